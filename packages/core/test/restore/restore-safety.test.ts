import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { craftSnapshot, listAll, localRepo, tmp } from './helpers.js';

describe('restore never writes outside its target', () => {
  it('two honest snapshots into one folder: data/ a symlink in the first, a real folder in the second', async () => {
    const { repo, cache } = await localRepo();
    const outside = await tmp('outside');
    await fs.writeFile(path.join(outside, 'victim.txt'), 'do not touch\n');
    await fs.chmod(outside, 0o755);
    const src = await tmp('src');
    await fs.symlink(outside, path.join(src, 'data'));
    const first = await push(repo, cache, { paths: [src], host: 'test' });

    await fs.rm(path.join(src, 'data'));
    await fs.mkdir(path.join(src, 'data'));
    await fs.writeFile(path.join(src, 'data', 'victim.txt'), 'from the snapshot\n');
    await fs.chmod(path.join(src, 'data'), 0o700);
    const second = await push(repo, cache, { paths: [src], host: 'test' });

    const target = await tmp('target');
    for (const overwrite of ['never', 'if-changed', 'always'] as const) {
      await fs.rm(path.join(target, src, 'data'), { recursive: true, force: true });
      await restore(repo, cache, { snapshot: first.snapshotId, target });
      expect((await fs.lstat(path.join(target, src, 'data'))).isSymbolicLink()).toBe(true);
      await restore(repo, cache, { snapshot: second.snapshotId, target, overwrite });
      expect(await fs.readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('do not touch\n');
      expect(await fs.readdir(outside)).toEqual(['victim.txt']);
      expect((await fs.stat(outside)).mode & 0o777).toBe(0o755);
    }
    // Replacing the symlink (the link itself, never what it points to) is what `always` asked.
    expect(await fs.readFile(path.join(target, src, 'data', 'victim.txt'), 'utf8')).toBe(
      'from the snapshot\n',
    );
  });

  it('an existing symlink in the place of a file is replaced, never written through', async () => {
    const { repo, cache } = await localRepo();
    const outside = await tmp('outside');
    await fs.writeFile(path.join(outside, 'victim.txt'), 'do not touch\n', { mode: 0o644 });
    const src = await tmp('src');
    await fs.writeFile(path.join(src, 'f.txt'), 'snapshot content\n', { mode: 0o600 });
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const target = await tmp('target');
    await fs.mkdir(path.join(target, src), { recursive: true });
    await fs.symlink(path.join(outside, 'victim.txt'), path.join(target, src, 'f.txt'));

    const never = await restore(repo, cache, { snapshot: snap.snapshotId, target });
    expect(never.conflicts.map((c) => c.path)).toEqual([path.join(src, 'f.txt')]);
    expect(never.files).toBe(0);
    expect((await fs.lstat(path.join(target, src, 'f.txt'))).isSymbolicLink()).toBe(true);

    const always = await restore(repo, cache, { snapshot: snap.snapshotId, target, overwrite: 'always' });
    expect(always.conflicts).toEqual([]);
    expect(always.files).toBe(1);
    expect(await fs.readFile(path.join(target, src, 'f.txt'), 'utf8')).toBe('snapshot content\n');
    expect((await fs.lstat(path.join(target, src, 'f.txt'))).isFile()).toBe(true);
    expect(await fs.readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('do not touch\n');
    expect((await fs.stat(path.join(outside, 'victim.txt'))).mode & 0o777).toBe(0o644);
  });

  it('refuses tree entries named "..", ".", "", with "/" or NUL, and restores the rest', async () => {
    const { repo, cache } = await localRepo();
    const hostile = ['..', '.', '', 'a/b', '../../escape', 'nul\0byte'];
    const snapshot = await craftSnapshot(repo, [
      {
        name: 'dir',
        children: [
          ...hostile.map((name) => ({ name, data: Buffer.from('evil\n') })),
          { name: '..', children: [{ name: 'escaped.txt', data: Buffer.from('evil\n') }] },
          { name: 'good.txt', data: Buffer.from('good\n') },
        ],
      },
    ]);
    const parent = await tmp('parent');
    const target = path.join(parent, 'target');
    const result = await restore(repo, cache, { snapshot, target });
    expect(await listAll(parent)).toEqual(['target', 'target/dir', 'target/dir/good.txt']);
    expect(result.failed.length).toBe(hostile.length + 1);
    for (const f of result.failed) expect(f.reason).toMatch(/refus/);
    expect(result.files).toBe(1);
  });

  it('refuses a hostile symlink chain: an entry below a symlink the same snapshot creates', async () => {
    const { repo, cache } = await localRepo();
    const outside = await tmp('outside');
    const snapshot = await craftSnapshot(repo, [
      { name: 'x', type: 'symlink', target: outside },
      { name: 'x', children: [{ name: 'planted.txt', data: Buffer.from('evil\n') }] },
    ]);
    const target = await tmp('target');
    await restore(repo, cache, { snapshot, target, overwrite: 'always' });
    expect(await fs.readdir(outside)).toEqual([]);
  });
});
