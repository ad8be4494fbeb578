import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

describe('push walk options through the binary', () => {
  let device: Device;
  let src: string;
  let repo: string;

  beforeAll(async () => {
    assertBuilt();
    device = await makeDevice();
    src = path.join(device.dir, 'src');
    repo = path.join(device.dir, 'repo');
    const put = async (rel: string, body = 'x\n') => {
      await mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await writeFile(path.join(src, rel), body);
    };
    await put('keep.txt');
    await put('notes.bak');
    await put('deep/er/junk.bak');
    await put('proj/.backupctlignore', 'dist/\n');
    await put('proj/dist/bundle.js');
    await put('proj/main.ts');
    await put('thumbs/CACHEDIR.TAG', 'Signature: 8a477f597d28d172789f06886806bc55\n');
    await put('thumbs/1.png');
    await writeFile(path.join(device.dir, 'excludes'), '# backups of backups\n*.bak\n');
    expect((await device.run(['init', '--repo', repo, '--path', src, '--no-keychain'])).code).toBe(0);
  });
  afterAll(async () => {
    await device?.remove();
  });

  const flags = () => ['--exclude-file', path.join(device.dir, 'excludes'), '--exclude-caches'];

  it('push --dry-run counts what a push would take, and touches no repository', async () => {
    const r = await device.run(['push', '--dry-run', ...flags(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{ dryRun: boolean; files: number; excluded: Record<string, number> }>();
    expect(doc.dryRun).toBe(true);
    // keep.txt, proj/.backupctlignore, proj/main.ts
    expect(doc.files).toBe(3);
    expect(doc.excluded).toMatchObject({ pattern: 2, 'ignore-file': 1, 'cache-dir': 1 });
    expect(existsSync(path.join(repo, 'snapshots'))).toBe(false);
    const human = await device.run(['push', '--dry-run', ...flags()]);
    expect(human.stdout).toContain('would back up 3 files');
  });

  it('push applies the same rules: relative patterns at any depth, .backupctlignore, CACHEDIR.TAG', async () => {
    const r = await device.run(['push', ...flags()]);
    expect(r.code, r.stderr).toBe(0);
    const ls = (await device.run(['ls', 'latest', '--json']))
      .json<Array<{ path: string }>>()
      .map((e) => e.path);
    expect(ls).toContain(`${src}/keep.txt`);
    expect(ls).toContain(`${src}/proj/main.ts`);
    for (const gone of ['notes.bak', 'deep/er/junk.bak', 'proj/dist', 'thumbs']) {
      expect(ls).not.toContain(`${src}/${gone}`);
    }
  });

  it('--exclude-file is not greedy: a path after it is a path', async () => {
    const r = await device.run([
      'push',
      '--dry-run',
      '--exclude-file',
      path.join(device.dir, 'excludes'),
      path.join(src, 'proj'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ paths: string[] }>().paths).toEqual([path.join(src, 'proj')]);
  });

  it('a missing --exclude-file is a usage error', async () => {
    const r = await device.run(['push', '--exclude-file', '/nonexistent/excludes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/nonexistent/excludes');
  });
});
