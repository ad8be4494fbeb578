import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { DirLister } from '../../src/scan/dir-lister.js';
import { type ListedStat, listDir, listedStat } from '../../src/scan/dir-listing.js';

it('the walker thread lists folders handed to it exactly as the calling thread does, and the walk never waits for it', async () => {
  const root = await fs.mkdtemp(path.join(tmpdir(), 'bk-lister-'));
  const dirs: string[] = [];
  for (let d = 0; d < 20; d++) {
    const dir = path.join(root, `d${d}`);
    await fs.mkdir(dir);
    for (let f = 0; f < 30; f++) await fs.writeFile(path.join(dir, `f${29 - f}`), 'x'.repeat(f));
    await fs.symlink('f1', path.join(dir, 'link'));
    dirs.push(dir);
  }
  await fs.writeFile(Buffer.from(`${dirs[0]}/bad-\xff`, 'latin1'), 'b');
  const lister = DirLister.start();
  expect(lister.threaded).toBe(true);
  try {
    // Taken before the walker could list it: made here, the same listing.
    const first = lister.take(dirs[0]!, lister.ahead([dirs[0]!])![0]);
    expect(first).toEqual(listDir(dirs[0]!));
    const ids = lister.ahead(dirs.slice(1))!;
    // Let the walker get ahead (the walk would be busy with other folders meanwhile).
    for (let i = 0; i < 1000 && lister.fromWalker === 0; i++) {
      await sleep(10);
      const probe = lister.take(dirs[1]!, ids[0]);
      expect(probe).toEqual(listDir(dirs[1]!));
      ids[0] = lister.ahead([dirs[1]!])![0]!;
    }
    for (let k = 0; k < ids.length; k++) {
      const listing = lister.take(dirs[k + 1]!, ids[k]);
      expect(listing.names).toEqual([...listDir(dirs[k + 1]!).names]);
      const stat = listedStat(listing, listing.names.indexOf('f3')) as ListedStat;
      const real = await fs.lstat(path.join(dirs[k + 1]!, 'f3'), { bigint: true });
      expect([stat.size, stat.mtimeNs, stat.ctimeNs, stat.ino, stat.dev, stat.mode, stat.nlink]).toEqual([
        real.size,
        real.mtimeNs,
        real.ctimeNs,
        real.ino,
        real.dev,
        real.mode,
        real.nlink,
      ]);
      expect(stat.isFile()).toBe(true);
      expect((listedStat(listing, listing.names.indexOf('link')) as ListedStat).isSymbolicLink()).toBe(true);
    }
    expect(lister.fromWalker).toBeGreaterThan(0);
    // A folder that cannot be listed: its error, as readdir's.
    const gone = lister.take(path.join(root, 'missing'));
    expect(gone.error?.code).toBe('ENOENT');
    expect(first.names).toContain('bad-\xff');
  } finally {
    await lister.close();
  }
});

it('a folder past eagerMax names is listed without stats, and each entry lstat’ed when asked gives the same values', async () => {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'bk-lazy-'));
  for (let f = 0; f < 12; f++) await fs.writeFile(path.join(dir, `f${f}`), 'y'.repeat(f));
  await fs.symlink('f1', path.join(dir, 'link'));
  await fs.writeFile(Buffer.from(`${dir}/bad-\xff`, 'latin1'), 'b');
  const eager = listDir(dir);
  const lazy = listDir(dir, 4);
  expect(eager.lazyDir).toBeUndefined();
  expect(lazy.lazyDir).toBe(dir);
  expect(lazy.stats.length).toBe(0);
  expect(lazy.names).toEqual(eager.names);
  const fields = (s: ReturnType<typeof listedStat>) => {
    if (s instanceof Error) return s;
    return [s.dev, s.ino, s.mode, s.nlink, s.uid, s.gid, s.size, s.mtimeNs, s.ctimeNs, s.isSymbolicLink()];
  };
  for (let i = 0; i < eager.names.length; i++) {
    expect(fields(listedStat(lazy, i))).toEqual(fields(listedStat(eager, i)));
  }
  // An entry gone since the listing: lstat's own error, as for an eager listing's failure.
  await fs.rm(path.join(dir, 'f3'));
  const gone = listedStat(lazy, lazy.names.indexOf('f3'));
  expect(gone).toBeInstanceOf(Error);
  expect((gone as NodeJS.ErrnoException).code).toBe('ENOENT');
  expect(listDir(dir, 4).names).not.toContain('f3');
  await fs.rm(dir, { recursive: true });
});
