import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/run-backupctl.js';

const execFileAsync = promisify(execFile);
const EXAMPLE = path.join(ROOT, 'examples', 'dist', 'sdk', 'backup-and-restore.js');

describe('examples/sdk/backup-and-restore.ts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sdk-example-'));
    await mkdir(path.join(dir, 'src', 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'src', 'a.txt'), 'hello\n');
    await writeFile(path.join(dir, 'src', 'sub', 'b.bin'), Buffer.alloc(300_000, 42));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const run = (args: string[], password: string | undefined = 'example passphrase') =>
    execFileAsync(process.execPath, [EXAMPLE, ...args], {
      env: { PATH: process.env.PATH, ...(password ? { BACKUPCTL_PASSWORD: password } : {}) },
    });

  it('pushes with progress events (scan, then read), lists, restores bit-exact', async () => {
    const target = path.join(dir, 'restored');
    const { stdout } = await run([path.join(dir, 'src'), path.join(dir, 'repo'), target]);
    const lines = stdout.trim().split('\n');
    expect(lines).toContain('push: reading');
    expect(stdout).toMatch(/^push: snapshot [0-9a-f]{8}, 2 files, 300006 new bytes$/m);
    expect(stdout).toMatch(/^snapshot [0-9a-f]{8} \S+ /m);
    expect(stdout).toMatch(/^restore: 2\/2 files$/m);
    const restoredRoot = path.join(target, path.join(dir, 'src'));
    expect(await readFile(path.join(restoredRoot, 'a.txt'), 'utf8')).toBe('hello\n');
    expect((await readFile(path.join(restoredRoot, 'sub', 'b.bin'))).equals(Buffer.alloc(300_000, 42))).toBe(
      true,
    );
  });

  it('a second run finds the repository and stores nothing new', async () => {
    const { stdout } = await run([
      path.join(dir, 'src'),
      path.join(dir, 'repo'),
      path.join(dir, 'restored-2'),
    ]);
    expect(stdout).toMatch(/^push: snapshot [0-9a-f]{8}, 2 files, 0 new bytes$/m);
    expect(stdout.match(/^snapshot /gm)).toHaveLength(2);
  });

  it('a wrong passphrase: a typed error with its code, exit 1', async () => {
    const failed = await run(
      [path.join(dir, 'src'), path.join(dir, 'repo'), path.join(dir, 'x')],
      'wrong',
    ).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).toBe(1);
    expect((failed as { stderr: string }).stderr).toMatch(/\(WRONG_PASSWORD\)/);
  });
});
