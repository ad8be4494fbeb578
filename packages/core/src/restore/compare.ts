import type { FileHandle } from 'node:fs/promises';
import type { TreeNode } from '../repository/format.js';
import type { Repository } from '../repository/repository.js';

/**
 * Reads an open file chunk by chunk and compares each with the snapshot's blob id; returns
 * where it first differs, or undefined when it is the snapshot's file. One chunk in memory.
 */
export async function compareContents(
  repo: Repository,
  handle: FileHandle,
  node: TreeNode,
): Promise<string | undefined> {
  let offset = 0;
  let buffer = Buffer.alloc(0);
  for (const id of node.chunks ?? []) {
    const blob = repo.index.get(id) ?? (await repo.locate(id));
    if (!blob) return `blob ${id} is in no index`;
    if (buffer.length < blob.rawLength) buffer = Buffer.allocUnsafe(blob.rawLength);
    const { bytesRead } = await handle.read(buffer, 0, blob.rawLength, offset);
    if (bytesRead !== blob.rawLength || (await repo.blobId(buffer.subarray(0, bytesRead))) !== id)
      return `bytes ${offset}–${offset + blob.rawLength}`;
    offset += blob.rawLength;
  }
  const extra = await handle.read(Buffer.alloc(1), 0, 1, offset);
  return extra.bytesRead > 0 ? `longer than ${offset} bytes` : undefined;
}
