import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PathPatterns, parseExcludeFile } from '../../src/scan/excludes.js';
import { planPush } from '../../src/scan/plan.js';
import { writeExcludeTree } from './exclude-tree.js';

describe('PathPatterns (restic rules, for excludes and includes)', () => {
  it('relative patterns match at any depth, anchored ones at the root, folders cover their contents', () => {
    const p = new PathPatterns(['*.tmp', 'node_modules', 'cache/*.bin', '/srv/data']);
    expect(p.matches('/home/me/a.tmp')).toBe(true);
    expect(p.matches('/home/me/proj/node_modules/x/index.js')).toBe(true);
    expect(p.matches('/home/me/deep/cache/x.bin')).toBe(true);
    expect(p.matches('/home/me/deep/cache/sub/x.bin')).toBe(false);
    expect(p.matches('/srv/data/file')).toBe(true);
    expect(p.matches('/home/srv/data/file')).toBe(false);
    expect(p.matches('/home/me/a.tmpx')).toBe(false);
  });

  it('an exclude file: one pattern a line, comments and blanks skipped', () => {
    expect(parseExcludeFile('# caches\n*.tmp\n\n  node_modules  \r\n#x\n')).toEqual([
      '*.tmp',
      'node_modules',
    ]);
  });
});

function tree(): Promise<string> {
  return fs.mkdtemp(path.join(tmpdir(), 'bk-scan-')).then((root) => writeExcludeTree(root));
}

describe('planPush (push --dry-run) walks with the push filter', () => {
  it('applies patterns, .backupctlignore (gitignore semantics, per folder) and CACHEDIR.TAG', async () => {
    const root = await tree();
    const seen: string[] = [];
    const plan = await planPush(
      [root],
      { excludes: ['*.tmp'], excludeCaches: true },
      {
        onEntry: (e) => {
          if ('type' in e && e.type === 'file') seen.push(path.relative(root, e.path));
        },
      },
    );
    expect(seen.sort()).toEqual(
      [
        'keep.txt',
        'proj/.backupctlignore',
        'proj/important.log',
        'proj/src/main.c',
        'other/build/kept.o',
        'fake-cache/CACHEDIR.TAG',
        'fake-cache/blob',
      ].sort(),
    );
    expect(plan.excluded).toMatchObject({ pattern: 1, 'ignore-file': 3, 'cache-dir': 1 });
    expect(plan.files).toBe(7);
  });

  it('without --exclude-caches the cache folder is walked; ignore files can be turned off', async () => {
    const root = await tree();
    const plan = await planPush([root], { ignoreFiles: false });
    expect(plan.excluded['cache-dir']).toBe(0);
    expect(plan.excluded['ignore-file']).toBe(0);
    expect(plan.files).toBe(13);
  });

  it('--one-file-system stays on the root’s device (/proc is another file system)', async () => {
    // / and /proc are different devices on Linux: walking / with oneFileSystem skips /proc.
    const { WalkFilter } = await import('../../src/scan/walk-filter.js');
    const filter = new WalkFilter(['/'], { oneFileSystem: true });
    await filter.excludes('/', await fs.lstat('/'));
    const procStat = await fs.lstat('/proc');
    const rootStat = await fs.lstat('/');
    expect(procStat.dev).not.toBe(rootStat.dev);
    expect(await filter.excludes('/proc', procStat)).toBe('other-file-system');
    expect(await new WalkFilter(['/'], {}).excludes('/proc', procStat)).toBeUndefined();
    expect(await filter.excludes('/etc', await fs.lstat('/etc'))).toBeUndefined();
  });
});
