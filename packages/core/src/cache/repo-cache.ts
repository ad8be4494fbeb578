import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ObjectCache } from '../repository/repository.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * The local cache of one repository (`<cacheDir>/<repo id>/`): copies of its immutable
 * index and snapshot objects (still encrypted), the file-metadata cache, and the lock.
 * Everything here can be deleted at any time: that costs time, never data.
 */
export class RepoCache implements ObjectCache {
  readonly dir: string;

  constructor(cacheDir: string, repoId: string) {
    this.dir = path.join(cacheDir, repoId);
  }

  private objectPath(key: string): string {
    return path.join(this.dir, 'objects', ...key.split('/'));
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.objectPath(key));
    } catch {
      return undefined;
    }
  }

  async write(key: string, data: Uint8Array): Promise<void> {
    try {
      await writeFileAtomic(this.objectPath(key), data);
    } catch {
      // A cache that cannot be written only costs a download next time.
    }
  }

  /** Drops a cached copy (an object the owner deleted: forget, prune). */
  async remove(key: string): Promise<void> {
    await fs.rm(this.objectPath(key), { force: true }).catch(() => undefined);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }
}
