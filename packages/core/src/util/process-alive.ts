import { readFileSync } from 'node:fs';

/**
 * Whether process `pid` of this host still runs. A zombie (killed, not reaped yet: an
 * orphan waits for PID 1, which in a container may reap late) still answers kill(pid, 0),
 * but holds no lock and writes no file: it counts as gone.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const afterName = stat.lastIndexOf(')') + 2;
    return stat.slice(afterName, afterName + 1) === 'Z';
  } catch {
    return false;
  }
}
