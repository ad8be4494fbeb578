import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

// A write can be short without an error (libuv returns what it wrote before a full disk):
// go on until all is written, so a full disk surfaces as ENOSPC instead of a file silently
// cut short. Imports only node:fs: the restore workers use it too.

/** Writes all of `bytes` at `position` of `handle`. */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
    done += checked(bytesWritten);
  }
}

/** Writes all of `bytes` at `position` of `fd`, synchronously. */
export function writeFullySync(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += checked(writeSync(fd, bytes, done, bytes.byteLength - done, position + done));
  }
}

function checked(written: number): number {
  if (written <= 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  return written;
}
