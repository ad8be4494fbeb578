import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree } from '../../../test/support/tree.js';
import { assertBuilt, type Device, makeDevice, makeDeviceWithSource } from './support/cli.js';

async function countFiles(dir: string): Promise<number> {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) n++;
  return n;
}

describe('snapshots, forget and prune through the binary (local repository)', () => {
  let device: Device;
  let src: string;
  let repo: string;

  beforeAll(async () => {
    ({ device, src, repo } = await makeDeviceWithSource());
    const init = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain', '--json']);
    expect(init.code, init.stderr).toBe(0);
    // Five generations: each replaces the files of the one before.
    for (let g = 0; g < 5; g++) {
      await rm(src, { recursive: true, force: true });
      await mkdir(src, { recursive: true });
      for (let i = 0; i < 4; i++) await writeFile(path.join(src, `g${g}-${i}.bin`), randomBytes(300_000));
      const pushed = await device.run(['push', '--tag', g % 2 === 0 ? 'even' : 'odd', '--json']);
      expect(pushed.code, pushed.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await device?.remove();
  });

  it('snapshots shows local time with its zone and a TAGS column, and filters by tag, host and path', async () => {
    const r = await device.run(['snapshots'], { TZ: 'Asia/Kolkata' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^ID\s+TIME\s+HOST\s+TAGS\s+FILES/);
    expect(r.stdout).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30/);
    expect(r.stdout).toContain('even');
    const even = (await device.run(['snapshots', '--tag', 'even', '--json'])).json<unknown[]>();
    expect(even).toHaveLength(3);
    const both = (await device.run(['snapshots', '--tag', 'even', '--tag', 'odd', '--json'])).json<
      unknown[]
    >();
    expect(both).toHaveLength(5);
    expect((await device.run(['snapshots', '--host', 'elsewhere', '--json'])).json<unknown[]>()).toHaveLength(
      0,
    );
    expect((await device.run(['snapshots', '--path', src, '--json'])).json<unknown[]>()).toHaveLength(5);
  });

  it('forget --dry-run lists what it would remove and removes nothing; forget removes it', async () => {
    const dry = await device.run(['forget', '--keep-last', '2', '--keep-tag', 'even', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const doc = dry.json<{
      groups: Array<{ keep: unknown[]; remove: Array<{ tags: string[] }> }>;
      removed: string[];
    }>();
    expect(doc.groups[0]!.keep).toHaveLength(4); // the newest two (g4 even, g3 odd) and the even g0, g2
    expect(doc.groups[0]!.remove.map((s) => s.tags)).toEqual([['odd']]);
    expect(doc.removed).toEqual([]);
    expect(await countFiles(path.join(repo, 'snapshots'))).toBe(5);

    const human = await device.run(['forget', '--keep-last', '1', '--dry-run']);
    expect(human.stdout).toContain('would remove');
    expect(human.stdout).toContain('last snapshot');

    const real = await device.run(['forget', '--keep-last', '1', '--json']);
    expect(real.code, real.stderr).toBe(0);
    expect(real.json<{ removed: string[] }>().removed).toHaveLength(4);
    expect(await countFiles(path.join(repo, 'snapshots'))).toBe(1);
  });

  it('forget without a rule is a usage error', async () => {
    const r = await device.run(['forget']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--keep');
  });

  it('prune, killed (SIGKILL) at random points, loses nothing; the last run frees the space', async () => {
    const packsBefore = await countFiles(path.join(repo, 'data'));
    let finished = false;
    for (let attempt = 0; attempt < 12 && !finished; attempt++) {
      const running = device.spawn(['prune', '--safety-margin', '0']);
      const delay = attempt < 10 ? randomInt(150, 1200) : 60_000;
      const timer = setTimeout(() => running.child.kill('SIGKILL'), delay);
      const result = await running.result;
      clearTimeout(timer);
      finished = result.code === 0;
      const checked = await device.run(['check', '--read-data', '--json']);
      expect(checked.code, `after kill at ${delay} ms: ${checked.stdout}`).toBe(0);
    }
    expect(finished).toBe(true);
    const final = await device.run(['prune', '--safety-margin', '0', '--json']);
    expect(final.json<{ packs: { unused: number } }>().packs.unused).toBe(0);
    expect(await countFiles(path.join(repo, 'data'))).toBeLessThan(packsBefore);
    expect(await countFiles(path.join(repo, 'prune'))).toBe(0);

    const target = path.join(device.dir, 'restored');
    const restored = await device.run(['restore', 'latest', '--target', target]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await describeTree(path.join(target, src))).toEqual(await describeTree(src));
  });

  it('prune with the default margin only marks, and says when the space comes back', async () => {
    await writeFile(path.join(src, 'extra.bin'), randomBytes(200_000));
    expect((await device.run(['push'])).code).toBe(0);
    expect((await device.run(['forget', '--keep-last', '1'])).code).toBe(0);
    const r = await device.run(['prune']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/waiting: +\d+ marked packs/);
    expect(r.stdout).toMatch(/deleted: +0 packs/);
  });
});

describe('forget and prune on S3 with only the device key', () => {
  let device: Device;
  beforeAll(async () => {
    assertBuilt();
    device = await makeDevice();
    await mkdir(device.env.BACKUPCTL_CONFIG_DIR!, { recursive: true });
    await writeFile(
      path.join(device.env.BACKUPCTL_CONFIG_DIR!, 'config.json'),
      JSON.stringify({
        version: 1,
        repository: 's3://backups/devices/laptop',
        endpoint: 'http://127.0.0.1:9',
        region: 'us-east-1',
        device: 'laptop',
        paths: [],
        excludes: [],
        passwordSource: 'environment',
      }),
    );
  });
  afterAll(async () => {
    await device?.remove();
  });

  for (const args of [['forget', '--keep-last', '1'], ['prune']]) {
    it(`${args[0]} stops with exit 45 before any request, naming --profile`, async () => {
      const trace = path.join(device.dir, `${args[0]}.trace`);
      const r = await device.run(args, {
        BACKUPCTL_AWS_TRACE: trace,
        AWS_ACCESS_KEY_ID: 'AKIADEVICE',
        AWS_SECRET_ACCESS_KEY: 'x',
      });
      expect(r.code).toBe(45);
      expect(r.stderr).toContain('no request was made');
      expect(r.stderr).toContain('--profile');
      expect(existsSync(trace)).toBe(false);
      const json = await device.run([...args, '--json'], { BACKUPCTL_AWS_TRACE: trace });
      expect(json.json<{ error: { code: string } }>().error.code).toBe('ADMIN_CREDENTIALS_REQUIRED');
    });
  }
});

it('the device S3 client refuses DeleteObject locally (the access guard), whatever asks', async () => {
  const { openBackend } = await import('@backupctl/core');
  const backend = (await openBackend(
    { repository: 's3://backups/devices/laptop', endpoint: 'http://127.0.0.1:9', region: 'us-east-1' },
    { credentials: { accessKeyId: 'AKIADEVICE', secretAccessKey: 'x' } },
  )) as unknown as { delete(key: string): Promise<void> };
  await expect(backend.delete('data/ab/abcd')).rejects.toMatchObject({ code: 'ACCESS_REFUSED_LOCALLY' });
});
