/** What `init` refuses before it asks for or changes anything. */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

interface ErrorDoc {
  error: { code: string; message: string; resolution?: string; details?: Record<string, unknown> };
  exitCode: number;
}

describe('init refuses what would be silently wrong', () => {
  let device: Device;
  let src: string;
  beforeAll(() => assertBuilt());
  afterEach(async () => {
    await device?.remove();
  });
  async function fresh(password?: string): Promise<void> {
    device = await makeDevice(password === undefined ? {} : { password });
    src = path.join(device.dir, 'src');
    await mkdir(src, { recursive: true });
  }

  it('on a device already set up: exit 2, says what exists; --force sets it up again', async () => {
    await fresh();
    const repo = path.join(device.dir, 'repo');
    const first = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const configFile = first.json<{ configFile: string }>().configFile;
    const before = await readFile(configFile, 'utf8');

    const other = path.join(device.dir, 'other-repo');
    const again = await device.run(['init', '--repo', other, '--path', src, '--no-keychain', '--json']);
    expect(again.code).toBe(2);
    const doc = again.json<ErrorDoc>();
    expect(doc.error.message).toContain('already set up');
    expect(doc.error.message).toContain(configFile);
    expect(doc.error.message).toContain(repo);
    expect(doc.error.resolution).toMatch(/--force/);
    expect(await readFile(configFile, 'utf8')).toBe(before);

    const human = await device.run(['init', '--repo', other, '--path', src, '--no-keychain']);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/^error: this device is already set up/m);

    const forced = await device.run([
      'init',
      '--repo',
      other,
      '--path',
      src,
      '--no-keychain',
      '--force',
      '--json',
    ]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(await readFile(configFile, 'utf8')).repository).toBe(other);
  });

  it('a --path that does not exist: exit 2, names it, nothing set up', async () => {
    await fresh();
    const missing = path.join(device.dir, 'no-such-folder');
    const r = await device.run([
      'init',
      '--repo',
      path.join(device.dir, 'repo'),
      '--path',
      src,
      '--path',
      missing,
      '--no-keychain',
      '--json',
    ]);
    expect(r.code).toBe(2);
    const doc = r.json<ErrorDoc>();
    expect(doc.error.message).toContain(missing);
    expect(doc.error.message).not.toContain(`"${src}"`);
    const status = await device.run(['status', '--json']);
    expect(status.json<ErrorDoc>().error.code).toBe('CONFIG_MISSING');
  });

  it.each([['~/Documents'], ['~'], ['~alice/Documents']])(
    'a literal %s (the shell did not expand it) is refused with a hint',
    async (value) => {
      await fresh();
      const r = await device.run([
        'init',
        '--repo',
        path.join(device.dir, 'repo'),
        `--path=${value}`,
        '--no-keychain',
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--path "${value}" starts with a literal "~"`);
      expect(r.stderr).toMatch(/next: Write --path/);
    },
  );

  it('a literal ~ in --repo is refused too', async () => {
    await fresh();
    const r = await device.run(['init', '--repo', '~/backups', '--path', src, '--no-keychain', '--json']);
    expect(r.code).toBe(2);
    expect(r.json<ErrorDoc>().error.message).toContain('--repo "~/backups" starts with a literal "~"');
  });

  it('a passphrase shorter than 8 characters is refused from BACKUPCTL_PASSWORD, as at the prompt', async () => {
    await fresh('seven77');
    const r = await device.run([
      'init',
      '--repo',
      path.join(device.dir, 'repo'),
      '--path',
      src,
      '--no-keychain',
      '--json',
    ]);
    expect(r.code).toBe(2);
    const doc = r.json<ErrorDoc>();
    expect(doc.error.message).toMatch(
      /passphrase in BACKUPCTL_PASSWORD is too short: it must have at least 8 characters/,
    );
    const status = await device.run(['status', '--json']);
    expect(status.json<ErrorDoc>().error.code).toBe('CONFIG_MISSING');
    // Eight is enough.
    const ok = await device.run(
      ['init', '--repo', path.join(device.dir, 'repo'), '--path', src, '--no-keychain', '--json'],
      { BACKUPCTL_PASSWORD: 'eight888' },
    );
    expect(ok.code, ok.stderr).toBe(0);
  });
});
