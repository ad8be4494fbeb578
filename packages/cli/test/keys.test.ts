import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

describe('key add / list / passwd / remove (local repository)', () => {
  let device: Device;
  let repo: string;
  const keyFiles = async () => (await readdir(path.join(repo, 'keys'))).sort();

  beforeAll(async () => {
    assertBuilt();
    device = await makeDevice();
    repo = path.join(device.dir, 'repo');
    const src = path.join(device.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'a.txt'), 'a\n');
    expect((await device.run(['init', '--repo', repo, '--path', src, '--no-keychain'])).code).toBe(0);
    expect((await device.run(['push'])).code).toBe(0);
  });
  afterAll(async () => {
    await device?.remove();
  });

  it('key add: both passphrases open the repository', async () => {
    const r = await device.run(['key', 'add', '--json'], { BACKUPCTL_NEW_PASSWORD: 'second one' });
    expect(r.code, r.stderr).toBe(0);
    expect(await keyFiles()).toHaveLength(2);
    expect((await device.run(['snapshots'], { BACKUPCTL_PASSWORD: 'second one' })).code).toBe(0);
    expect((await device.run(['snapshots'])).code).toBe(0);
    const list = (await device.run(['key', 'list', '--json'])).json<Array<{ current: boolean }>>();
    expect(list.filter((k) => k.current)).toHaveLength(1);
  });

  it('key add without a new passphrase (no terminal) fails clearly', async () => {
    const r = await device.run(['key', 'add']);
    expect(r.code).toBe(12);
    expect(r.stderr).toContain('BACKUPCTL_NEW_PASSWORD');
  });

  it('key remove refuses the key in use', async () => {
    const list = (await device.run(['key', 'list', '--json'])).json<
      Array<{ id: string; current: boolean }>
    >();
    const current = list.find((k) => k.current)!;
    const r = await device.run(['key', 'remove', current.id.slice(0, 8)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('could lock you out');
  });

  it('key passwd: new key first, then the old one goes; the old passphrase stops working', async () => {
    const before = await keyFiles();
    const r = await device.run(['key', 'passwd', '--json'], { BACKUPCTL_NEW_PASSWORD: 'third one' });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{ added: string; oldKey: string; oldKeyRemoved: boolean }>();
    expect(doc.oldKeyRemoved).toBe(true);
    const after = await keyFiles();
    expect(after).toContain(doc.added);
    expect(after).not.toContain(doc.oldKey);
    expect(after).toHaveLength(before.length);
    expect((await device.run(['snapshots'])).code).toBe(12); // PASSWORD was the old one
    expect((await device.run(['snapshots'], { BACKUPCTL_PASSWORD: 'third one' })).code).toBe(0);
    expect((await device.run(['snapshots'], { BACKUPCTL_PASSWORD: 'second one' })).code).toBe(0);
    // With the new one in use, the second key can be removed.
    const list = (await device.run(['key', 'list', '--json'], { BACKUPCTL_PASSWORD: 'third one' })).json<
      Array<{ id: string; current: boolean }>
    >();
    const other = list.find((k) => !k.current)!;
    const removed = await device.run(['key', 'remove', other.id.slice(0, 8)], {
      BACKUPCTL_PASSWORD: 'third one',
    });
    expect(removed.code, removed.stderr).toBe(0);
    expect((await device.run(['snapshots'], { BACKUPCTL_PASSWORD: 'second one' })).code).toBe(12);
  });
});
