import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import {
  assertValidKey,
  type ByteRange,
  type DeletableBackend,
  type ObjectInfo,
  type PutResult,
} from './backend.js';
import { removeStaleParts, StagedFile } from './staged-file.js';

/**
 * A repository in a local directory. Writes go to a temporary file that is then linked
 * into place with `link(2)`, which fails when the target exists: an exclusive create that
 * never exposes a half-written object, even if the process dies mid-write.
 */
export class LocalBackend implements DeletableBackend {
  readonly location: string;
  readonly writeConcurrency = 1;

  constructor(root: string) {
    this.location = path.resolve(root);
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return path.join(this.location, ...key.split('/'));
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    if (await exists(this.pathOf(key))) return 'exists';
    const staged = await this.stage();
    try {
      await staged.write(body, 0);
    } catch (error) {
      // A full disk, an I/O error: leave nothing half-written behind.
      await staged.discard();
      throw error;
    }
    return staged.publish(key, body.byteLength, '');
  }

  /**
   * A temporary file in the repository's own `.tmp/` (the same file system, so publishing
   * is a `link(2)`, not a copy), named after its writer (host, pid) so that a later push
   * tells a dead writer's leftovers from a live concurrent push's (removeStaleTemporaries).
   */
  stage(): Promise<StagedFile> {
    return StagedFile.create(path.join(this.location, '.tmp'), (file, key) => this.publish(file, key));
  }

  /** Flushed to the disk, then linked into place: never a half-written object under a key. */
  private async publish(file: StagedFile, key: string): Promise<PutResult> {
    const target = this.pathOf(key);
    await file.sync();
    await file.close();
    if (await exists(target)) return 'exists';
    await fs.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.link(file.path, target);
      return 'created';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      throw error;
    }
  }

  /**
   * Removes `.tmp/*.part` files that killed writers left. Only stale ones: written by a
   * process of this host that is gone, or (any host, e.g. a shared disk) untouched for a
   * day. A concurrent live push's temporary file is never touched.
   */
  removeStaleTemporaries(now = Date.now()): Promise<number> {
    return removeStaleParts(path.join(this.location, '.tmp'), now);
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const file = this.pathOf(key);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BackupctlError(ErrorCodes.objectNotFound, `object not found: ${key}`, {
          source: 'toolkit',
        });
      }
      throw error;
    }
    try {
      if (!range) return await handle.readFile();
      const buffer = Buffer.allocUnsafe(range.length);
      let done = 0;
      while (done < range.length) {
        const { bytesRead } = await handle.read(buffer, done, range.length - done, range.offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buffer.subarray(0, done);
    } finally {
      await handle.close();
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Keys are few levels deep (data/ab/<id>): walk the folder the prefix names.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey ? path.join(this.location, ...dirKey.split('/')) : this.location;
    yield* this.walk(start, dirKey, prefix);
  }

  private async *walk(dir: string, dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (!dirKey && entry.name === '.tmp') continue;
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) {
          yield* this.walk(path.join(dir, entry.name), key, prefix);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const stat = await fs.stat(path.join(dir, entry.name));
        yield { key, size: stat.size };
      }
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const stat = await fs.stat(this.pathOf(key));
      return stat.isFile() ? { key, size: stat.size } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
