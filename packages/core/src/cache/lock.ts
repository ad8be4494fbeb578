import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { isProcessAlive } from '../util/process-alive.js';

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  operation: string;
}

export interface AcquiredLock {
  /** Set when a lock left by a killed process was found and cleared. */
  stale?: LockInfo;
  release(): Promise<void>;
}

/**
 * A local lock file that stops two pushes at once on this device. No remote locks: the
 * repository is append-only, so concurrent writers from different devices are safe.
 * A lock whose process is gone (a push killed mid-way) is stale: it is cleared, and the
 * caller learns of it so it can recover the packs that push uploaded.
 */
export async function acquireLock(file: string, operation: string): Promise<AcquiredLock> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const info: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), operation };
  let stale: LockInfo | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(info), { flag: 'wx', mode: 0o600 });
      return {
        stale,
        release: async () => {
          await fs.rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readLock(file);
    if (holder && holder.host === info.host && isProcessAlive(holder.pid)) {
      throw new BackupctlError(
        ErrorCodes.repoLocked,
        `another ${holder.operation} (pid ${holder.pid}, since ${holder.started}) is running`,
        { resolution: 'Wait for it to finish. If no such process exists, delete the lock file: ' + file },
      );
    }
    stale = holder ?? stale;
    await fs.rm(file, { force: true });
  }
  throw new BackupctlError(ErrorCodes.repoLocked, `could not take the lock ${file}`);
}

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}
