import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../util/process-alive.js';
import { writeFully } from '../util/write-fully.js';
import type { PutResult, StagedObject } from './backend.js';

/** A temporary file older than this is a dead writer's, whoever it was. */
const STALE_TMP_MS = 24 * 60 * 60 * 1000;
const HOST_TAG =
  hostname()
    .replace(/[^A-Za-z0-9_.]/g, '_')
    .slice(0, 64) || 'host';
/** Temporary files are named after their writer (host, pid): a dead writer's are told apart. */
const TMP_OWNER = `${HOST_TAG}-${process.pid}`;

/** How a backend turns a staged file into an object (link it into place, upload it). */
export type PublishStagedFile = (
  file: StagedFile,
  key: string,
  size: number,
  sha256: string,
) => Promise<PutResult>;

/**
 * A staged object in a temporary file `<dir>/<host>-<pid>.<random>.part`, created
 * exclusively; `publish` hands it to the backend's own way of storing it, then removes it.
 */
export class StagedFile implements StagedObject {
  private constructor(
    readonly path: string,
    private handle: fs.FileHandle | undefined,
    private readonly finish: PublishStagedFile,
  ) {}

  static async create(dir: string, finish: PublishStagedFile): Promise<StagedFile> {
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${TMP_OWNER}.${randomBytes(8).toString('hex')}.part`);
    const handle = await fs.open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    return new StagedFile(file, handle, finish);
  }

  async write(bytes: Uint8Array, position: number): Promise<void> {
    if (!this.handle) throw new Error(`staged file ${this.path} is closed`);
    if (!(bytes instanceof Uint8Array)) throw new TypeError('a staged write takes bytes (a Uint8Array)');
    await writeFully(this.handle, bytes, position);
  }

  /** Flushes what was written to the disk (before the file is linked into a repository). */
  async sync(): Promise<void> {
    await this.handle?.sync();
  }

  /** Closes the file, keeping it (publishing reads it by path). */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  async publish(key: string, size: number, sha256: string): Promise<PutResult> {
    try {
      return await this.finish(this, key, size, sha256);
    } finally {
      await this.discard();
    }
  }

  async discard(): Promise<void> {
    await this.close().catch(() => undefined);
    await fs.rm(this.path, { force: true }).catch(() => undefined);
  }
}

/**
 * Removes the `*.part` files of `dir` that killed writers left. Only stale ones: written by
 * a process of this host that is gone, or (any host, e.g. a shared disk) untouched for a
 * day. A concurrent live writer's temporary file is never touched. Returns the count removed.
 */
export async function removeStaleParts(dir: string, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.endsWith('.part')) continue;
    const file = path.join(dir, name);
    const owner = /^(.+)-(\d+)\.[0-9a-f]{16}\.part$/.exec(name);
    let stale = owner !== null && owner[1] === HOST_TAG && !isProcessAlive(Number(owner[2]));
    if (!stale) {
      const stat = await fs.stat(file).catch(() => undefined);
      stale = stat !== undefined && now - stat.mtimeMs > STALE_TMP_MS;
    }
    if (
      stale &&
      (await fs.rm(file).then(
        () => true,
        () => false,
      ))
    )
      removed++;
  }
  return removed;
}
