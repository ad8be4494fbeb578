import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restore } from '../../src/operations/restore.js';
import { FoldersAhead } from '../../src/restore/folders-ahead.js';
import { craftSnapshot, listAll, localRepo, tmp } from './helpers.js';

/*
 * A restore makes the snapshot's folders during its counting walk, before any file
 * (restore/folders-ahead.ts): only inside the target or inside folders it made, never
 * through anything already in the target, and only the folders the walk would make.
 */

describe('FoldersAhead', () => {
  it('makes a folder, hands it to the walk once as fresh, and leaves what is already there alone', async () => {
    const target = await tmp('ahead');
    const ahead = new FoldersAhead();
    expect(await ahead.make(path.join(target, 'a'))).toBe(true);
    const st = await fs.lstat(path.join(target, 'a'));
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
    expect(ahead.take(path.join(target, 'a'))).toEqual({
      fresh: true,
      owner: { uid: process.geteuid!(), gid: process.getegid!() },
    });
    expect(ahead.take(path.join(target, 'a'))).toBeUndefined();
    // Already there (a folder, a file): not made, not fresh.
    await fs.mkdir(path.join(target, 'old'));
    await fs.writeFile(path.join(target, 'file'), 'x');
    expect(await ahead.make(path.join(target, 'old'))).toBe(false);
    expect(await ahead.make(path.join(target, 'file'))).toBe(false);
    expect(ahead.take(path.join(target, 'old'))).toBeUndefined();
    // A symlink at the name: not followed.
    const outside = await tmp('outside');
    await fs.symlink(outside, path.join(target, 'link'));
    expect(await ahead.make(path.join(target, 'link'))).toBe(false);
    expect(await fs.readdir(outside)).toEqual([]);
    // Names as bytes (not UTF-8) are kept apart from text names.
    const bytes = Buffer.concat([Buffer.from(`${target}/`), Buffer.from([0xff, 0x41])]);
    expect(await ahead.make(bytes)).toBe(true);
    expect(ahead.take(bytes.toString())).toBeUndefined();
    expect(ahead.take(bytes)?.fresh).toBe(true);
  });

  it('remembers at most its limit of folders and makes none beyond it', async () => {
    const target = await tmp('ahead-limit');
    const ahead = new FoldersAhead(2);
    expect(await ahead.make(path.join(target, 'a'))).toBe(true);
    expect(await ahead.make(path.join(target, 'b'))).toBe(true);
    expect(await ahead.make(path.join(target, 'c'))).toBe(false);
    expect(await fs.readdir(target)).toEqual(['a', 'b']);
    expect(ahead.created).toBe(2);
    ahead.take(path.join(target, 'a'));
    expect(await ahead.make(path.join(target, 'c'))).toBe(true);
  });
});

describe('restore with folders made ahead', () => {
  const tree = () => [
    {
      name: 'a',
      mode: 0o750,
      extra: { mtimeNs: '1500000000123456000' },
      children: [
        { name: 'x', mode: 0o555, children: [{ name: 'f1', data: Buffer.from('one') }] },
        { name: 'empty', children: [] },
      ],
    },
    { name: 'b', children: [{ name: 'y', children: [{ name: 'f2', data: Buffer.from('two') }] }] },
  ];

  it('gives the same tree, folder modes and times with them as without them', async () => {
    const { repo, cache } = await localRepo();
    const snapshot = await craftSnapshot(repo, tree());
    const withAhead = await tmp('with');
    const without = await tmp('without');
    const a = await restore(repo, cache, { snapshot, target: withAhead });
    const b = await restore(repo, cache, { snapshot, target: without, limits: { foldersAhead: 0 } });
    expect(a.failed).toEqual([]);
    expect(b.failed).toEqual([]);
    expect(a.dirs).toBe(b.dirs);
    expect(await listAll(withAhead)).toEqual(await listAll(without));
    for (const rel of ['a', 'a/x', 'a/empty', 'b', 'b/y']) {
      const [s, t] = await Promise.all([
        fs.lstat(path.join(withAhead, rel)),
        fs.lstat(path.join(without, rel)),
      ]);
      expect([rel, s.mode & 0o7777]).toEqual([rel, t.mode & 0o7777]);
      expect([rel, s.mtimeMs]).toEqual([rel, t.mtimeMs]);
    }
    expect((await fs.lstat(path.join(withAhead, 'a/x'))).mode & 0o7777).toBe(0o555);
    expect((await fs.lstat(path.join(withAhead, 'a'))).mtimeMs).toBe(1500000000123.456);
    expect(await fs.readFile(path.join(withAhead, 'a/x/f1'), 'utf8')).toBe('one');
  });

  it('makes no folder that --include leaves out', async () => {
    const { repo, cache } = await localRepo();
    const snapshot = await craftSnapshot(repo, tree());
    const target = await tmp('include');
    const result = await restore(repo, cache, { snapshot, target, include: ['/a/x/f1'] });
    expect(result.failed).toEqual([]);
    expect(await listAll(target)).toEqual(['a', 'a/x', 'a/x/f1']);
  });

  it('never makes a folder through a symlink already in the target', async () => {
    const { repo, cache } = await localRepo();
    const snapshot = await craftSnapshot(repo, tree());
    const target = await tmp('planted');
    const outside = await tmp('outside');
    await fs.symlink(outside, path.join(target, 'a'));
    const result = await restore(repo, cache, { snapshot, target });
    expect(await fs.readdir(outside)).toEqual([]);
    expect(result.conflicts.map((c) => c.path)).toEqual(['/a']);
    expect((await fs.lstat(path.join(target, 'a'))).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(path.join(target, 'b/y/f2'), 'utf8')).toBe('two');
  });
});
