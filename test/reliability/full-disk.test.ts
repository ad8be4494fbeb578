import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runCli } from '../support/run-backupctl.js';

/**
 * A full disk, for real: a small tmpfs for the cache, the repository and a restore target
 * (issue 11, items 10 and 12). Needs `mount -t tmpfs` (root, or a container that allows
 * it); where it cannot mount, the suite is skipped and says so — the translation of ENOSPC
 * is also covered without a mount (packages/core/test/errors/system-error.test.ts).
 */
function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = path.join(tmpdir(), `bk-tmpfs-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    execFileSync('rm', ['-rf', probe]);
  }
}

const mountable = canMount();
if (!mountable) console.warn('full-disk tests skipped: cannot mount a tmpfs here (needs root)');

describe.skipIf(!mountable)('a full disk (tmpfs)', () => {
  let dir: string;
  const mounts: string[] = [];
  const password = 'full-disk-passphrase';

  async function tmpfs(name: string, size: string): Promise<string> {
    const at = path.join(dir, name);
    await mkdir(at, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at]);
    mounts.push(at);
    return at;
  }

  /** Fills a mount until fewer than `leave` bytes are free. */
  async function fill(at: string, leave: number): Promise<string> {
    const free = Number(execFileSync('df', ['--output=avail', '-B1', at]).toString().split('\n')[1]);
    const filler = path.join(at, 'filler');
    await writeFile(filler, Buffer.alloc(Math.max(0, free - leave)));
    return filler;
  }

  beforeAll(async () => {
    assertBuilt();
    dir = await mkdtemp(path.join(tmpdir(), 'bk-full-'));
  });
  afterAll(async () => {
    for (const at of mounts.reverse()) execFileSync('umount', ['-l', at]);
    await rm(dir, { recursive: true, force: true });
  });

  const envFor = (name: string, cache: string) => ({
    BACKUPCTL_CONFIG_DIR: path.join(dir, name, 'config'),
    BACKUPCTL_CACHE_DIR: cache,
    BACKUPCTL_PASSWORD: password,
    BACKUPCTL_HOST: 'full',
    HOME: path.join(dir, name),
  });

  it('the cache disk full after the commit point: push exits 0 and says what was saved', async () => {
    const src = path.join(dir, 'src-many');
    await mkdir(src, { recursive: true });
    // Many files: the file cache written after the snapshot is far larger than what is left.
    for (let i = 0; i < 1500; i++)
      await writeFile(path.join(src, `file-with-a-longish-name-${i}.txt`), `${i}`);
    const cache = await tmpfs('cache', '2m');
    const env = envFor('a', cache);
    const init = await runCli(['init', '--repo', path.join(dir, 'repo-a'), '--path', src, '--no-keychain'], {
      env,
    });
    expect(init.code, init.stderr).toBe(0);
    await fill(cache, 96 * 1024);
    const push = await runCli(['push', '--json'], { env });
    expect(push.code, push.stderr).toBe(0);
    const doc = push.json<{ snapshotId: string; cacheWarnings: string[] }>();
    expect(doc.cacheWarnings.join('\n')).toMatch(/no space left/i);
    expect(await readdir(path.join(dir, 'repo-a', 'snapshots'))).toContain(doc.snapshotId);
    const human = await runCli(['push'], { env });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(/warning: snapshot [0-9a-f]{8} was saved, but/);
  });

  it('the repository disk full: push exits 29 (NO_SPACE), and after freeing space nothing is lost', async () => {
    const src = path.join(dir, 'src-big');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'a.bin'), Buffer.alloc(400_000, 7));
    const repo = await tmpfs('repo-b', '4m');
    const env = envFor('b', path.join(dir, 'cache-b'));
    const init = await runCli(['init', '--repo', repo, '--path', src, '--no-keychain'], { env });
    expect(init.code, init.stderr).toBe(0);
    const first = await runCli(['push'], { env });
    expect(first.code, first.stderr).toBe(0);
    const { randomBytes } = await import('node:crypto');
    await writeFile(path.join(src, 'b.bin'), randomBytes(1_500_000));
    const filler = await fill(repo, 200_000);
    const full = await runCli(['push', '--json'], { env });
    expect(full.code, full.stdout + full.stderr).toBe(29);
    expect(full.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'NO_SPACE',
      message: expect.stringMatching(/no space left on the disk/),
    });
    await rm(filler);
    const again = await runCli(['push'], { env });
    expect(again.code, again.stderr).toBe(0);
    const check = await runCli(['check', '--read-data', '--json'], { env });
    expect(check.code, check.stdout).toBe(0);
  });

  it('a full restore target: exit 29 with a clear message', async () => {
    const src = path.join(dir, 'src-restore');
    await mkdir(src, { recursive: true });
    const { randomBytes } = await import('node:crypto');
    await writeFile(path.join(src, 'big.bin'), randomBytes(1_000_000));
    const env = envFor('c', path.join(dir, 'cache-c'));
    expect(
      (await runCli(['init', '--repo', path.join(dir, 'repo-c'), '--path', src, '--no-keychain'], { env }))
        .code,
    ).toBe(0);
    expect((await runCli(['push'], { env })).code).toBe(0);
    const target = await tmpfs('target-c', '256k');
    const restore = await runCli(['restore', 'latest', '--target', target], { env });
    expect(restore.code, restore.stderr).toBe(29);
    expect(restore.stderr).toMatch(/no space left on the disk/);
    expect(restore.stderr).not.toMatch(/\n\s+at /);
  });
});
