import { close as closeCallback, open as openCallback, read as readCallback } from 'node:fs';
import { promisify } from 'node:util';
import { BackupctlError } from '../errors/index.js';
import { grown } from '../util/grown.js';

const FILE_READ_ERRORS = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EISDIR',
  'EIO',
  'ENXIO',
  'ELOOP',
  'ETXTBSY',
  'EBUSY',
  'ESTALE',
]);

export function isFileReadError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && FILE_READ_ERRORS.has(code) && !BackupctlError.is(error);
}

const openFd = promisify(openCallback);
const readFd = promisify(readCallback);
const closeFd = promisify(closeCallback);

/**
 * Reads a file whose size lstat just gave: open, read, close on a plain descriptor — no
 * fstat as readFile makes, no FileHandle object per file. On trees of many small files
 * these per-file costs are the push (profiled: docs/benchmarks.md). A file that grew
 * since is read to its end all the same.
 */
export async function readSmallFile(file: string | Buffer, expectedSize: number): Promise<Buffer> {
  const fd = await openFd(file, 'r');
  try {
    let buffer = Buffer.allocUnsafe(expectedSize + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer);
      const { bytesRead } = await readFd(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) return buffer.subarray(0, length);
      length += bytesRead;
    }
  } finally {
    await closeFd(fd);
  }
}
