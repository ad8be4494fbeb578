import { promises as fs, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';

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
    if (holder && holder.host === info.host && isAlive(holder.pid)) {
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

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (killed, not reaped yet: an orphan waits for PID 1, which in a container may
  // reap late) still answers kill(pid, 0), but holds nothing.
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
