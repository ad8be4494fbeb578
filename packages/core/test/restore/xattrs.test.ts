import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { xattrModule } from '../../src/archive/xattrs.js';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { craftSnapshot, localRepo, tmp } from './helpers.js';

const mod = await xattrModule();
const isRoot = process.getuid?.() === 0;

/** Whether the temporary folder's file system takes user xattrs (ext4 does; an old tmpfs does not). */
async function userXattrsWork(): Promise<string | undefined> {
  if (!mod) return 'the @napi-rs/xattr module is not available on this platform';
  const probe = path.join(await tmp('xattr-probe'), 'f');
  await fs.writeFile(probe, '');
  try {
    await mod.setAttribute(probe, 'user.probe', Buffer.from('1'));
    return undefined;
  } catch (error) {
    return `the temporary folder does not take user xattrs (${(error as Error).message})`;
  }
}
const unsupported = await userXattrsWork();
if (unsupported) console.warn(`xattr tests skipped: ${unsupported}`);

/**
 * A POSIX ACL as Linux stores it in `system.posix_acl_*` (version 2, then tag/perm/id
 * entries): owner rw-, user 1234 r--, group r--, mask r--, other ---.
 */
function acl(): Buffer {
  const entries: Array<[number, number, number]> = [
    [0x01, 6, 0xffffffff],
    [0x02, 4, 1234],
    [0x04, 4, 0xffffffff],
    [0x10, 4, 0xffffffff],
    [0x20, 0, 0xffffffff],
  ];
  const b = Buffer.alloc(4 + entries.length * 8);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(id, 8 + i * 8);
  });
  return b;
}

describe.skipIf(unsupported !== undefined)('extended attributes and ACLs (ext4 here)', () => {
  it('user xattrs and ACLs of files and folders, read-only ones included, come back byte for byte', async () => {
    const m = mod!;
    const { repo, cache } = await localRepo();
    const src = await tmp('xattr-src');
    const file = path.join(src, 'file.txt');
    const ro = path.join(src, 'read-only.txt');
    const dir = path.join(src, 'dir');
    const roDir = path.join(src, 'ro-dir');
    await fs.writeFile(file, 'with attributes\n');
    await fs.writeFile(ro, 'read only\n');
    await fs.mkdir(dir);
    await fs.mkdir(roDir);
    await fs.writeFile(path.join(roDir, 'inside.txt'), 'inside\n');
    await fs.writeFile(path.join(src, 'plain.txt'), 'no attributes\n');
    const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
    await m.setAttribute(file, 'user.binary', binary);
    await m.setAttribute(file, 'user.text', Buffer.from('été'));
    await m.setAttribute(file, 'system.posix_acl_access', acl());
    await m.setAttribute(ro, 'user.origin', Buffer.from('downloaded'));
    await m.setAttribute(dir, 'user.dir', Buffer.from('folder attribute'));
    await m.setAttribute(dir, 'system.posix_acl_default', acl());
    await m.setAttribute(roDir, 'user.ro', Buffer.from('read-only folder'));
    await fs.chmod(ro, 0o444);
    await fs.chmod(roDir, 0o555);
    // A symlink to a file with attributes: the link itself records none.
    await fs.symlink('file.txt', path.join(src, 'link'));

    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    expect(snap.warnings).toEqual([]);

    // The format: sorted names, base64 values, on the nodes that have attributes only.
    const tree = await repo.readTree(snap.snapshot.tree);
    let nodes = tree.nodes;
    for (const part of src.split('/').filter(Boolean)) {
      const next = nodes.find((n) => n.name === part)!;
      nodes = (await repo.readTree(next.subtree!)).nodes;
    }
    const byName = new Map(nodes.map((n) => [n.name, n]));
    expect(byName.get('file.txt')?.xattrs).toEqual([
      { name: 'system.posix_acl_access', value: acl().toString('base64') },
      { name: 'user.binary', value: binary.toString('base64') },
      { name: 'user.text', value: Buffer.from('été').toString('base64') },
    ]);
    expect(byName.get('plain.txt')).not.toHaveProperty('xattrs');
    expect(byName.get('link')).not.toHaveProperty('xattrs');

    const target = await tmp('xattr-target');
    const result = await restore(repo, cache, { snapshot: snap.snapshotId, target });
    expect(result.failed).toEqual([]);
    expect(result.warnings).toEqual([]);
    const at = (p: string) => path.join(target, p);
    expect(await m.getAttribute(at(file), 'user.binary')).toEqual(binary);
    expect((await m.getAttribute(at(file), 'user.text'))?.toString()).toBe('été');
    expect(await m.getAttribute(at(file), 'system.posix_acl_access')).toEqual(acl());
    expect((await m.getAttribute(at(ro), 'user.origin'))?.toString()).toBe('downloaded');
    expect((await m.getAttribute(at(dir), 'user.dir'))?.toString()).toBe('folder attribute');
    expect(await m.getAttribute(at(dir), 'system.posix_acl_default')).toEqual(acl());
    expect((await m.getAttribute(at(roDir), 'user.ro'))?.toString()).toBe('read-only folder');
    expect((await fs.stat(at(ro))).mode & 0o777).toBe(0o444);
    expect((await fs.stat(at(roDir))).mode & 0o777).toBe(0o555);
    expect((await fs.stat(at(file))).mode & 0o777).toBe((await fs.stat(file)).mode & 0o777);
    expect(m.listAttributesSync(at(path.join(src, 'plain.txt')))).toEqual([]);
  });

  it('re-pushes of unchanged files keep their xattrs; one added or removed later is seen (its ctime moved)', async () => {
    const m = mod!;
    const { repo, cache } = await localRepo();
    const src = await tmp('xattr-repush');
    const plain = path.join(src, 'plain.txt');
    const tagged = path.join(src, 'tagged.txt');
    await fs.writeFile(plain, 'no attributes yet\n');
    await fs.writeFile(tagged, 'with one\n');
    await m.setAttribute(tagged, 'user.kept', Buffer.from('kept'));
    const nodesOf = async (snap: Awaited<ReturnType<typeof push>>) => {
      let nodes = (await repo.readTree(snap.snapshot.tree)).nodes;
      for (const part of src.split('/').filter(Boolean)) {
        nodes = (await repo.readTree(nodes.find((n) => n.name === part)!.subtree!)).nodes;
      }
      return new Map(nodes.map((n) => [n.name, n]));
    };
    const kept = [{ name: 'user.kept', value: Buffer.from('kept').toString('base64') }];
    const first = await nodesOf(await push(repo, cache, { paths: [src], host: 'test' }));
    expect(first.get('plain.txt')).not.toHaveProperty('xattrs');
    expect(first.get('tagged.txt')?.xattrs).toEqual(kept);

    // Unchanged: answered from the file cache, the xattrs as they are.
    const again = await push(repo, cache, { paths: [src], host: 'test' });
    expect(again.snapshot.summary.newBlobs).toBe(0);
    const second = await nodesOf(again);
    expect(second.get('plain.txt')).not.toHaveProperty('xattrs');
    expect(second.get('tagged.txt')?.xattrs).toEqual(kept);

    // An attribute added to the file that had none, and the other's removed: content unchanged.
    await m.setAttribute(plain, 'user.added', Buffer.from('later'));
    await m.removeAttribute?.(tagged, 'user.kept');
    const third = await nodesOf(await push(repo, cache, { paths: [src], host: 'test' }));
    expect(third.get('plain.txt')?.xattrs).toEqual([
      { name: 'user.added', value: Buffer.from('later').toString('base64') },
    ]);
    if (m.removeAttribute) expect(third.get('tagged.txt')).not.toHaveProperty('xattrs');
    const fourth = await nodesOf(await push(repo, cache, { paths: [src], host: 'test' }));
    expect(fourth.get('plain.txt')?.xattrs).toEqual(third.get('plain.txt')?.xattrs);
  });

  it('never sets attributes through a symlink already in the target', async () => {
    const m = mod!;
    const { repo, cache } = await localRepo();
    const outside = await tmp('xattr-outside');
    const target = await tmp('xattr-target');
    const id = await craftSnapshot(repo, [
      {
        name: 'data',
        children: [
          { name: 'f.txt', data: Buffer.from('x'), extra: { xattrs: [{ name: 'user.a', value: 'QQ==' }] } },
        ],
        extra: { xattrs: [{ name: 'user.evil', value: 'QQ==' }] },
      },
    ]);
    await fs.symlink(outside, path.join(target, 'data'));
    const result = await restore(repo, cache, { snapshot: id, target, overwrite: 'never' });
    expect(result.conflicts.map((c) => c.path)).toEqual(['/data']);
    expect(m.listAttributesSync(outside)).toEqual([]);
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('an xattrs field of a shape restore does not know is a warning, never a crash', async () => {
    const { repo, cache } = await localRepo();
    const target = await tmp('xattr-target');
    const id = await craftSnapshot(repo, [
      { name: 'a.txt', data: Buffer.from('a'), extra: { xattrs: 'nonsense' as unknown as [] } },
      { name: 'b.txt', data: Buffer.from('b'), extra: { xattrs: [{ name: 'user.ok', value: 'b2s=' }] } },
    ]);
    const result = await restore(repo, cache, { snapshot: id, target });
    expect(result.failed).toEqual([]);
    expect(result.warnings).toEqual([expect.stringContaining('shape restore does not know')]);
    expect(await fs.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('a');
    expect((await mod!.getAttribute(path.join(target, 'b.txt'), 'user.ok'))?.toString()).toBe('ok');
  });

  it.skipIf(!isRoot)('as root, trusted.* attributes are kept too', async () => {
    const m = mod!;
    const { repo, cache } = await localRepo();
    const src = await tmp('xattr-src');
    await fs.writeFile(path.join(src, 'f'), 'f');
    await m.setAttribute(path.join(src, 'f'), 'trusted.note', Buffer.from('root only'));
    const snap = await push(repo, cache, { paths: [src], host: 'test' });
    const target = await tmp('xattr-target');
    const result = await restore(repo, cache, { snapshot: snap.snapshotId, target });
    expect(result.warnings).toEqual([]);
    expect((await m.getAttribute(path.join(target, src, 'f'), 'trusted.note'))?.toString()).toBe('root only');
  });
});
