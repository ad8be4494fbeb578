/**
 * Ctrl-C on a real terminal: the binary runs under `script` (util-linux), which gives it a
 * pseudo-terminal; writing ^C (0x03) to that terminal is exactly a user's Ctrl-C (the line
 * discipline sends SIGINT, or readline reads it in raw mode at a prompt).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv } from '../../../test/support/run-backupctl.js';
import { type Device, makeDevice, makeDeviceWithSource } from './support/cli.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
if (!hasScript && process.env.CI) throw new Error('`script` (util-linux) is needed for the Ctrl-C tests');

/** Runs backupctl ARGS on a pseudo-terminal, presses Ctrl-C once `ready` shows in its output. */
function ctrlC(
  args: string[],
  env: Record<string, string | undefined>,
  ready: RegExp | (() => boolean),
): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: cleanEnv({ ...env, TERM: 'xterm' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let pressed = false;
  const press = () => {
    if (pressed) return;
    if (typeof ready === 'function' ? ready() : ready.test(output)) {
      pressed = true;
      child.stdin.write('\x03');
    }
  };
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    press();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // A condition on the world (not the output) is polled: we wait on the event itself.
  const poll = typeof ready === 'function' ? setInterval(press, 10) : undefined;
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearInterval(poll);
      resolve({ code, output });
    });
  });
}

/** What the user sees after the last cursor/line control: the lines printed. */
function linesAfterInterrupt(output: string): string[] {
  const tail = output.slice(output.lastIndexOf('\x1b[?25h') + '\x1b[?25h'.length);
  return tail
    .split(/\r?\n/)
    .map((l) => l.replace(/\r/g, ''))
    .filter((l) => l.trim() !== '');
}

describe.skipIf(!hasScript)(
  `Ctrl-C anywhere exits 130, prints one line, shows the cursor again${hasScript ? '' : ' (skipped: no `script`)'}`,
  () => {
    let device: Device;
    let src: string;
    let repo: string;

    beforeAll(async () => {
      ({ device, src, repo } = await makeDeviceWithSource());
      // Enough random data that the push and the restore are still running when Ctrl-C comes.
      for (let i = 0; i < 12; i++)
        await writeFile(path.join(src, `f${i}.bin`), randomBytes(16 * 1024 * 1024));
    });
    afterAll(async () => {
      await device?.remove();
    });

    it('at the passphrase prompt', async () => {
      const other = await makeDevice({ password: undefined });
      try {
        const r = await ctrlC(
          ['init', '--repo', path.join(other.dir, 'repo'), '--path', src, '--no-keychain'],
          other.env,
          /New repository passphrase: /,
        );
        expect(r.code).toBe(130);
        expect(r.output).toContain('\x1b[?25h');
        expect(linesAfterInterrupt(r.output)).toEqual(['backupctl: interrupted (Ctrl-C)']);
      } finally {
        await other.remove();
      }
    });

    it('during a push (progress bar on screen), and the next push completes', async () => {
      const init = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain']);
      expect(init.code, init.stderr).toBe(0);
      const r = await ctrlC(['push'], device.env, /push \[/);
      expect(r.code, r.output).toBe(130);
      // cli-progress hid the cursor; it is shown again after that.
      expect(r.output.lastIndexOf('\x1b[?25h')).toBeGreaterThan(r.output.lastIndexOf('\x1b[?25l'));
      expect(linesAfterInterrupt(r.output)).toEqual(['backupctl: interrupted (Ctrl-C)']);
      const again = await device.run(['push', '--json']);
      expect(again.code, again.stderr).toBe(0);
    });

    it('during a restore', async () => {
      const r = await ctrlC(
        ['restore', 'latest', '--target', path.join(device.dir, 'out')],
        device.env,
        /restore \[/,
      );
      expect(r.code, r.output).toBe(130);
      expect(r.output.lastIndexOf('\x1b[?25h')).toBeGreaterThan(r.output.lastIndexOf('\x1b[?25l'));
      expect(linesAfterInterrupt(r.output)).toEqual(['backupctl: interrupted (Ctrl-C)']);
    });

    it('with --json: exit 130 and one JSON document', async () => {
      const target = path.join(device.dir, 'out-json');
      // Pressed once the restore has begun writing files (it prints nothing before the end).
      const r = await ctrlC(['restore', 'latest', '--target', target, '--json'], device.env, () =>
        existsSync(path.join(target, src)),
      );
      expect(r.code, r.output).toBe(130);
      const doc = JSON.parse(linesAfterInterrupt(r.output).at(-1) ?? '{}');
      expect(doc).toEqual({ error: { code: 'INTERRUPTED', message: 'interrupted' }, exitCode: 130 });
    });
  },
);
