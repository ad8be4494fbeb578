import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('ls, dump and diff through the binary', () => {
  let device: Device;
  let src: string;
  let first: string;
  let second: string;

  beforeAll(async () => {
    assertBuilt();
    device = await makeDevice();
    src = path.join(device.dir, 'src');
    await mkdir(path.join(src, 'docs', 'deep'), { recursive: true });
    await writeFile(path.join(src, 'docs', 'a.txt'), 'alpha\n');
    await writeFile(path.join(src, 'docs', 'deep', 'b.txt'), 'beta\n');
    await writeFile(path.join(src, 'gone.txt'), 'bye\n');
    await writeFile(path.join(src, 'big.bin'), randomBytes(5 * 1024 * 1024 + 17));
    await writeFile(path.join(src, 'mode.txt'), 'same\n');
    await symlink('docs/a.txt', path.join(src, 'link'));
    const repo = path.join(device.dir, 'repo');
    expect((await device.run(['init', '--repo', repo, '--path', src, '--no-keychain'])).code).toBe(0);
    first = (await device.run(['push', '--json'])).json<{ snapshotId: string }>().snapshotId;
    await rm(path.join(src, 'gone.txt'));
    await writeFile(path.join(src, 'docs', 'new.txt'), 'new\n');
    await writeFile(path.join(src, 'docs', 'a.txt'), 'alpha, edited\n');
    await chmod(path.join(src, 'mode.txt'), 0o600);
    second = (await device.run(['push', '--json'])).json<{ snapshotId: string }>().snapshotId;
  });
  afterAll(async () => {
    await device?.remove();
  });

  it('ls lists every entry under a path, depth first; --long shows mode, size, time', async () => {
    const all = await device.run(['ls', first]);
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines).toContain(`${src}/docs/deep/b.txt`);
    expect(lines).toContain(`${src}/docs/`);
    expect(lines.indexOf(`${src}/docs/`)).toBeLessThan(lines.indexOf(`${src}/docs/a.txt`));
    const under = await device.run(['ls', 'latest', path.join(src, 'docs', 'deep')]);
    expect(under.stdout.trim().split('\n')).toEqual([`${src}/docs/deep/`, `${src}/docs/deep/b.txt`]);
    const long = await device.run(['ls', 'latest', path.join(src, 'link'), '-l']);
    expect(long.stdout).toMatch(/^l\d{4} .* -> docs\/a\.txt$/m);
    const json = (await device.run(['ls', 'latest', path.join(src, 'mode.txt'), '--json'])).json<
      Array<{ path: string; mode: number; size: number }>
    >();
    expect(json).toEqual([expect.objectContaining({ path: `${src}/mode.txt`, mode: 0o600, size: 5 })]);
  });

  it('ls of a path the snapshot lacks says so (exit 1)', async () => {
    const r = await device.run(['ls', 'latest', '/nowhere/at/all']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nowhere/at/all is not in snapshot');
  });

  it('dump streams a file bit-exact to stdout; a folder is refused', async () => {
    const { spawnCli } = await import('./support/cli.js');
    const running = spawnCli(['dump', first, path.join(src, 'big.bin')], { env: device.env });
    const chunks: Buffer[] = [];
    running.child.stdout!.on('data', (c: Buffer) => chunks.push(c));
    const result = await running.result;
    expect(result.code, result.stderr).toBe(0);
    expect(sha(Buffer.concat(chunks))).toBe(sha(await readFile(path.join(src, 'big.bin'))));
    const old = await device.run(['dump', first, path.join(src, 'docs', 'a.txt')]);
    expect(old.stdout).toBe('alpha\n');
    const folder = await device.run(['dump', 'latest', path.join(src, 'docs')]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain('is a folder');
  });

  it('diff shows added, removed, modified and metadata-only changes', async () => {
    const r = await device.run(['diff', first, second]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`+    ${src}/docs/new.txt`);
    expect(r.stdout).toContain(`-    ${src}/gone.txt`);
    expect(r.stdout).toContain(`M    ${src}/docs/a.txt`);
    expect(r.stdout).toContain(`U    ${src}/mode.txt`);
    expect(r.stdout).not.toContain('big.bin');
    expect(r.stdout).not.toContain('deep');
    const json = (await device.run(['diff', first, second, '--json'])).json<{
      stats: Record<string, number>;
    }>();
    expect(json.stats).toMatchObject({ added: 1, removed: 1, modified: 1, metadata: 1, type: 0 });
  });
});
