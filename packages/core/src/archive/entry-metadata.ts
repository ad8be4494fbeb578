import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import type { TreeNode } from '../repository/format.js';

/** What a node keeps of an lstat (BigIntStats, or the walker's ListedStat). */
type NodeStat = Pick<BigIntStats, 'mode' | 'mtimeNs' | 'uid' | 'gid' | 'nlink' | 'dev' | 'ino'>;

/**
 * What a tree node keeps of an entry's metadata: mode, mtime to the nanosecond (negative
 * before 1970), owner, and for files with several links the link identity restore
 * re-creates them from.
 */
export function entryMetadata(name: string | Buffer, type: TreeNode['type'], stat: NodeStat): TreeNode {
  const node: TreeNode = {
    ...nameFields(name),
    type,
    // Number first: bigint arithmetic allocates (this runs once per file of every push).
    mode: Number(stat.mode) & 0o7777,
    mtimeNs: stat.mtimeNs.toString(),
  };
  if (process.platform !== 'win32') {
    node.uid = Number(stat.uid);
    node.gid = Number(stat.gid);
  }
  if (type === 'file' && Number(stat.nlink) > 1) node.hardlink = `${stat.dev}:${stat.ino}`;
  return node;
}

/** `name` is UTF-8 text; a name that is not valid UTF-8 keeps its bytes in `nameBytes`. */
export function nameFields(name: string | Buffer): { name: string; nameBytes?: string } {
  if (typeof name === 'string') return { name };
  const text = name.toString('utf8');
  return Buffer.from(text, 'utf8').equals(name)
    ? { name: text }
    : { name: text, nameBytes: name.toString('base64') };
}

/** A folder's entry names as the file system has them: text when valid UTF-8, bytes otherwise. */
export function entryName(raw: Buffer): string | Buffer {
  const text = raw.toString('utf8');
  return Buffer.from(text, 'utf8').equals(raw) ? text : raw;
}

/** `dir/name`, as a Buffer as soon as either part is one. */
export function joinPath(dir: string | Buffer, name: string | Buffer): string | Buffer {
  if (typeof dir === 'string' && typeof name === 'string') return path.join(dir, name);
  return Buffer.concat([Buffer.from(dir), Buffer.from(path.sep), Buffer.from(name)]);
}

/** A symlink target: `target` as text, `targetBytes` too when it is not valid UTF-8. */
export function targetFields(raw: Buffer): { target: string; targetBytes?: string } {
  const text = raw.toString('utf8');
  return Buffer.from(text, 'utf8').equals(raw)
    ? { target: text }
    : { target: text, targetBytes: raw.toString('base64') };
}

const POSIX_OWNER = process.platform !== 'win32';

/**
 * `JSON.stringify({ ...entryMetadata(name, type, stat), ...(xattrs ? { xattrs } : {}) })`
 * without its closing brace, written as text: the same bytes (so the same tree ids) with
 * no object per entry. The walk builds every node this way; `fileNodeJson` and
 * `dirNodeJson` close it.
 */
export function nodeJsonHead(
  name: string | Buffer,
  type: TreeNode['type'],
  stat: NodeStat,
  xattrs: TreeNode['xattrs'] | undefined,
): string {
  let json: string;
  if (typeof name === 'string') json = `{"name":${JSON.stringify(name)}`;
  else {
    const fields = nameFields(name);
    json = `{"name":${JSON.stringify(fields.name)}`;
    if (fields.nameBytes !== undefined) json += `,"nameBytes":"${fields.nameBytes}"`;
  }
  json += `,"type":"${type}","mode":${Number(stat.mode) & 0o7777},"mtimeNs":"${stat.mtimeNs}"`;
  if (POSIX_OWNER) json += `,"uid":${Number(stat.uid)},"gid":${Number(stat.gid)}`;
  if (type === 'file' && Number(stat.nlink) > 1) json += `,"hardlink":"${stat.dev}:${stat.ino}"`;
  if (xattrs !== undefined) json += `,"xattrs":${JSON.stringify(xattrs)}`;
  return json;
}

/** A file's node as JSON: as `JSON.stringify({ ...metadata, xattrs?, size, chunks })`. */
export function fileNodeJson(
  name: string | Buffer,
  stat: NodeStat,
  xattrs: TreeNode['xattrs'] | undefined,
  size: number,
  chunks: readonly string[],
): string {
  return `${nodeJsonHead(name, 'file', stat, xattrs)},"size":${size},"chunks":${JSON.stringify(chunks)}}`;
}

/** A folder's node as JSON, `head` from nodeJsonHead: as `JSON.stringify({ ...node, subtree })`. */
export function dirNodeJson(head: string, subtree: string): string {
  return `${head},"subtree":${JSON.stringify(subtree)}}`;
}
