import { writeSync } from 'node:fs';

/**
 * Writes all of `data` at `position`. A write can be short without an error (libuv returns
 * what it wrote before a full disk): go on until all is written, so a full disk surfaces as
 * ENOSPC instead of a file silently cut short. Imports only node:fs: the restore workers use
 * it too.
 */
export function writeFullySync(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) {
    const written = writeSync(fd, data, done, data.length - done, position + done);
    if (written <= 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    done += written;
  }
}
