import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, makeDevice } from './support/cli.js';

/** The habits every CLI user brings: help, -h, version, typos, completion, -q/-v. */
describe('CLI habits', () => {
  let device: Device;
  let data: string;
  beforeAll(async () => {
    device = await makeDevice();
    data = path.join(device.dir, 'data');
    await mkdir(data);
    await writeFile(path.join(data, 'a'), 'a\n');
    expect(
      (await device.run(['init', '--repo', path.join(device.dir, 'repo'), '--path', data, '--no-keychain']))
        .code,
    ).toBe(0);
  });
  afterAll(() => device.remove());

  it('a typo: did you mean…, in the one error style, exit 2', async () => {
    const r = await device.run(['pus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'error: "pus" is not a backupctl command\n  next: did you mean `backupctl push`? All commands: `backupctl help`.\n',
    );
    const topic = await device.run(['schedule', 'instal']);
    expect(topic.stderr).toMatch(/did you mean `backupctl schedule install`\?/);
    const json = await device.run(['snapshts', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      error: {
        code: 'USAGE',
        message: '"snapshts" is not a backupctl command',
        resolution: 'did you mean `backupctl snapshots`? All commands: `backupctl help`.',
        details: { suggestion: 'snapshots' },
      },
      exitCode: 2,
    });
    const nothingClose = await device.run(['xyzzy']);
    expect(nothingClose.stderr).toMatch(
      /^error: "xyzzy" is not a backupctl command\n {2}next: See the commands with `backupctl help`\.\n$/,
    );
  });

  it('help: `help push`, `push -h`, `push --help` print the same usage', async () => {
    const a = await device.run(['help', 'push'], { COLUMNS: '80' });
    const b = await device.run(['push', '-h'], { COLUMNS: '80' });
    const c = await device.run(['push', '--help'], { COLUMNS: '80' });
    for (const r of [a, b, c]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^USAGE\n {2}\$ backupctl push/m);
    }
    expect(b.stdout).toBe(c.stdout);
    expect((await device.run(['schedule', 'install', '-h'])).stdout).toMatch(/--every/);
  });

  it('version: `version`, --version, -V, and -v alone', async () => {
    for (const args of [['version'], ['--version'], ['-V'], ['-v']]) {
      const r = await device.run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/^backupctl\/\d+\.\d+\.\d+ \S+ node-v\d+/);
    }
  });

  it('shell completion scripts for bash and zsh', async () => {
    for (const shell of ['bash', 'zsh']) {
      const r = await device.run(['autocomplete', 'script', shell], {
        XDG_CACHE_HOME: path.join(device.dir, 'xdg-cache'),
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/BACKUPCTL_AC_/);
    }
  });

  it('-q: push prints nothing on success; -v names the files; both at once is a usage error', async () => {
    const quiet = await device.run(['push', '-q']);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr).toBe('');
    await writeFile(path.join(data, 'b'), 'b\n');
    const verbose = await device.run(['push', '-v']);
    expect(verbose.code).toBe(0);
    expect(verbose.stdout).toMatch(/^snapshot [0-9a-f]{8} saved$/m);
    const both = await device.run(['push', '-q', '-v']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^error: .*--verbose/m);
  });

  it('under a timer (JOURNAL_STREAM): one summary line; errors carry <3>', async () => {
    const ok = await device.run(['push'], { JOURNAL_STREAM: '8:12345' });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /^snapshot [0-9a-f]{8} saved: \d+ files, .* scanned, .* new, uploaded .* in \d+ packs, \d+s\n$/,
    );
    const failed = await device.run(['push'], { JOURNAL_STREAM: '8:12345', BACKUPCTL_PASSWORD: 'wrong' });
    expect(failed.code).toBe(12);
    expect(failed.stderr).toMatch(/^<3>error: /);
    expect(
      failed.stderr
        .split('\n')
        .filter(Boolean)
        .every((l) => l.startsWith('<3>')),
    ).toBe(true);
  });
});
