import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/util/process-alive.js';

describe('isProcessAlive (lock holders, temporary files’ writers)', () => {
  it('a running process is alive; this one too', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
  });

  it.skipIf(process.platform !== 'linux')('a zombie (dead, not reaped yet) holds nothing', async () => {
    // A child that has exited but that we have not reaped: node reaps on its own once the
    // exit is seen, so the child is killed and checked in the window before that, by
    // stopping our event loop (a synchronous wait on /proc) until the kernel shows Z.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise<void>((resolve) => child.once('spawn', () => resolve()));
    const pid = child.pid!;
    expect(isProcessAlive(pid)).toBe(true);
    process.kill(pid, 'SIGKILL');
    let state = '';
    while (state !== 'Z' && existsSync(`/proc/${pid}`)) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    }
    expect(state).toBe('Z');
    expect(isProcessAlive(pid)).toBe(false);
    await new Promise((resolve) => child.once('exit', resolve));
  });
});
