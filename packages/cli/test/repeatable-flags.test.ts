/**
 * Every repeatable flag stops at the next value that is not its own (oclif's non-greedy
 * multiple flags): put before a positional argument, restic-style, it takes one value and
 * the argument stays an argument. Before this, `push --tag X /path` backed up the configured
 * paths and recorded /path as a tag, exit 0: silently wrong.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

interface SnapshotDoc {
  id: string;
  paths: string[];
  tags?: string[];
}

describe('repeatable flags before a positional argument', () => {
  let device: Device;
  let configured: string;
  let other: string;

  beforeAll(async () => {
    assertBuilt();
    device = await makeDevice();
    configured = path.join(device.dir, 'configured');
    other = path.join(device.dir, 'other');
    await mkdir(path.join(configured, 'node_modules'), { recursive: true });
    await mkdir(path.join(other, 'node_modules'), { recursive: true });
    await writeFile(path.join(configured, 'c.txt'), 'configured\n');
    await writeFile(path.join(other, 'o.txt'), 'other\n');
    await writeFile(path.join(other, 'node_modules', 'dep.js'), 'dependency\n');
    const init = await device.run([
      'init',
      '--repo',
      path.join(device.dir, 'repo'),
      '--path',
      configured,
      '--no-keychain',
    ]);
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(async () => {
    await device?.remove();
  });

  async function latest(): Promise<SnapshotDoc> {
    const r = await device.run(['snapshots', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const list = r.json<SnapshotDoc[]>();
    return list.at(-1) as SnapshotDoc;
  }

  it('push --tag X /path: tags X and backs up /path', async () => {
    const r = await device.run(['push', '--tag', 'X', other, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ paths: string[] }>().paths).toEqual([other]);
    const snap = await latest();
    expect(snap.tags).toEqual(['X']);
    expect(snap.paths).toEqual([other]);
  });

  it('push --tag X --tag Y /path: both tags, still /path', async () => {
    const r = await device.run(['push', '--tag', 'X', '--tag', 'Y', other, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((await latest()).tags).toEqual(['X', 'Y']);
    expect(r.json<{ paths: string[] }>().paths).toEqual([other]);
  });

  it('push --exclude node_modules /path: excludes node_modules, backs up /path', async () => {
    const r = await device.run(['push', '--exclude', 'node_modules', other, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ paths: string[] }>().paths).toEqual([other]);
    const target = path.join(device.dir, 'restored-exclude');
    const restore = await device.run(['restore', 'latest', '--target', target, '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await readFile(path.join(target, other, 'o.txt'), 'utf8')).toBe('other\n');
    await expect(readFile(path.join(target, other, 'node_modules', 'dep.js'))).rejects.toThrow();
  });

  it('restore --include GLOB SNAPSHOT: the snapshot stays the argument', async () => {
    const first = (await device.run(['snapshots', '--json'])).json<SnapshotDoc[]>()[0] as SnapshotDoc;
    const target = path.join(device.dir, 'restored-include');
    const r = await device.run([
      'restore',
      '--include',
      `${other}/o.txt`,
      first.id.slice(0, 8),
      '--target',
      target,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ snapshotId: string }>().snapshotId).toBe(first.id);
    expect(await readFile(path.join(target, other, 'o.txt'), 'utf8')).toBe('other\n');
    await expect(readFile(path.join(target, other, 'node_modules', 'dep.js'))).rejects.toThrow();
  });

  it.each([['--path'], ['--exclude']])(
    'init %s VALUE EXTRA: EXTRA is not taken as a second value (usage error, exit 2, nothing set up)',
    async (flag) => {
      const fresh = await makeDevice();
      try {
        const r = await fresh.run([
          'init',
          '--repo',
          path.join(fresh.dir, 'repo'),
          flag,
          flag === '--path' ? configured : 'node_modules',
          other,
          '--no-keychain',
        ]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/Unexpected argument/);
        const status = await fresh.run(['status', '--json']);
        expect(status.json<{ error: { code: string } }>().error.code).toBe('CONFIG_MISSING');
      } finally {
        await fresh.remove();
      }
    },
  );
});
