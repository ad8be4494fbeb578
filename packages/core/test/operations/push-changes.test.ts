import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { xattrModule } from '../../src/archive/xattrs.js';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { type PushProgress, push } from '../../src/operations/push.js';
import type { TreeNode } from '../../src/repository/format.js';
import { Repository } from '../../src/repository/repository.js';
import { DirLister } from '../../src/scan/dir-lister.js';
import { LocalBackend } from '../../src/storage/local-backend.js';

const FAST_KDF = { N: 1024, r: 8, p: 1 };
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));
const mod = await xattrModule();

/** Whether `dir`'s file system takes user xattrs (ext4 does; an old tmpfs does not). */
async function userXattrs(dir: string): Promise<boolean> {
  if (!mod) return false;
  const probe = path.join(dir, '.probe');
  await fs.writeFile(probe, '');
  try {
    await mod.setAttribute(probe, 'user.probe', Buffer.from('1'));
    return true;
  } catch {
    return false;
  } finally {
    await fs.rm(probe);
  }
}

/** The tree id of the snapshot's copy of `root` (the folders above it change as tests run). */
async function treeOf(repo: Repository, rootTree: string, root: string): Promise<string> {
  let id = rootTree;
  for (const name of root.split(path.sep).filter(Boolean)) {
    id = (await repo.readTree(id)).nodes.find((n) => n.name === name)!.subtree!;
  }
  return id;
}

/** Every node below the snapshot's copy of `root`, by path relative to it. */
async function nodesOf(repo: Repository, rootTree: string, root: string): Promise<Map<string, TreeNode>> {
  const id = await treeOf(repo, rootTree, root);
  const out = new Map<string, TreeNode>();
  const walk = async (tree: string, at: string) => {
    for (const node of (await repo.readTree(tree)).nodes) {
      const rel = at ? `${at}/${node.name}` : node.name;
      out.set(rel, node);
      if (node.subtree) await walk(node.subtree, rel);
    }
  };
  await walk(id, '');
  return out;
}

it('a re-push through the walker thread sees every kind of change, and only those files are read again', async () => {
  // The compiled walker (dist/) is what this is about: the build must have run.
  expect(DirLister.start().threaded).toBe(true);
  await DirLister.start().close();
  const src = await tmp('changes-src');
  const files = [
    'content',
    'size',
    'mtime',
    'inode',
    'mode',
    'xattr',
    'removed',
    'to-dir',
    'to-link',
    'same',
    'deep/a/b/same',
  ];
  for (const f of files) {
    await fs.mkdir(path.dirname(path.join(src, f)), { recursive: true });
    await fs.writeFile(path.join(src, f), `${f} v1`);
    // Whole seconds: utimes can put them back exactly.
    await fs.utimes(path.join(src, f), new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
  }
  await fs.mkdir(path.join(src, 'dir-to-file'));
  await fs.writeFile(path.join(src, 'dir-to-file', 'inner'), 'inner');
  const repo = await Repository.init(new LocalBackend(await tmp('changes-repo')), 'pw', {
    host: 'test',
    kdf: FAST_KDF,
  });
  const cache = new RepoCache(await tmp('changes-cache'), repo.config.id);
  let progress: PushProgress | undefined;
  const events = { onProgress: (p: PushProgress) => (progress = p) };
  // 'always': every folder through the walker thread, however few names it holds.
  const run = () =>
    push(repo, cache, { paths: [src], host: 'test', scanTotals: false, walkerThread: 'always' }, events);

  const first = await run();
  const second = await run();
  expect(progress!.filesUnchanged).toBe(files.length + 1);
  expect(await treeOf(repo, second.snapshot.tree, src)).toBe(await treeOf(repo, first.snapshot.tree, src));
  const before = await nodesOf(repo, first.snapshot.tree, src);

  const at = (f: string) => path.join(src, f);
  const old = await fs.stat(at('content'));
  // Same size, mtime put back: only the ctime tells.
  await fs.writeFile(at('content'), 'CONTENT v1');
  await fs.utimes(at('content'), old.atime, old.mtime);
  await fs.writeFile(at('size'), 'size v1 and more');
  const later = new Date(Date.now() + 5_000);
  await fs.utimes(at('mtime'), later, later);
  // Another file (another inode) put in its place with the same bytes and times.
  const inode = await fs.stat(at('inode'));
  await fs.writeFile(at('inode.new'), 'inode v1');
  await fs.utimes(at('inode.new'), inode.atime, inode.mtime);
  await fs.rename(at('inode.new'), at('inode'));
  await fs.chmod(at('mode'), 0o600);
  const xattrs = await userXattrs(src);
  if (xattrs) await mod!.setAttribute(at('xattr'), 'user.note', Buffer.from('hello'));
  await fs.rm(at('removed'));
  await fs.writeFile(at('added'), 'added v1');
  await fs.rm(at('to-dir'));
  await fs.mkdir(at('to-dir'));
  await fs.writeFile(at('to-dir/child'), 'child');
  await fs.rm(at('to-link'));
  await fs.symlink('same', at('to-link'));
  await fs.rm(at('dir-to-file'), { recursive: true });
  await fs.writeFile(at('dir-to-file'), 'now a file');

  const third = await run();
  expect(third.warnings).toEqual([]);
  const after = await nodesOf(repo, third.snapshot.tree, src);
  // Unchanged: same, deep/a/b/same (and xattr where the file system takes none).
  expect(progress!.filesUnchanged).toBe(xattrs ? 2 : 3);
  expect(after.get('same')).toEqual(before.get('same'));
  expect(after.get('deep/a/b/same')).toEqual(before.get('deep/a/b/same'));
  expect(after.get('content')!.chunks).not.toEqual(before.get('content')!.chunks);
  expect(after.get('content')!.mtimeNs).toBe(before.get('content')!.mtimeNs);
  expect(after.get('size')!.size).toBe('size v1 and more'.length);
  expect(after.get('mtime')!.mtimeNs).not.toBe(before.get('mtime')!.mtimeNs);
  expect(after.get('mtime')!.chunks).toEqual(before.get('mtime')!.chunks);
  expect(after.get('inode')!.chunks).toEqual(before.get('inode')!.chunks);
  expect(after.get('mode')!.mode).toBe(0o600);
  if (xattrs) {
    expect(after.get('xattr')!.xattrs).toEqual([
      { name: 'user.note', value: Buffer.from('hello').toString('base64') },
    ]);
  }
  expect(after.has('removed')).toBe(false);
  expect(after.get('added')!.type).toBe('file');
  expect(after.get('to-dir')!.type).toBe('dir');
  expect(after.get('to-dir/child')!.type).toBe('file');
  expect(after.get('to-link')).toMatchObject({ type: 'symlink', target: 'same' });
  expect(after.get('dir-to-file')!.type).toBe('file');
  expect(after.has('dir-to-file/inner')).toBe(false);

  // The same tree, listed on the calling thread with no file cache: the very same snapshot tree.
  const inline = await push(repo, new RepoCache(await tmp('changes-cache2'), repo.config.id), {
    paths: [src],
    host: 'test',
    walkerThread: false,
  });
  expect(await treeOf(repo, inline.snapshot.tree, src)).toBe(await treeOf(repo, third.snapshot.tree, src));
  // And once more through the walker: nothing left to read.
  const fourth = await run();
  expect(progress!.filesUnchanged).toBe(fourth.snapshot.summary.files);
  expect(fourth.snapshot.summary.files).toBe(11);
});

it('the walker thread lists what cannot be listed or stat’ed as the walk on one thread does: a warning each, the rest kept', async () => {
  const src = await tmp('walker-errors');
  await fs.mkdir(path.join(src, 'locked'));
  await fs.writeFile(path.join(src, 'locked', 'secret'), 's');
  await fs.writeFile(path.join(src, 'ok'), 'ok');
  const deep = path.join(src, 'wide');
  await fs.mkdir(deep);
  for (let i = 0; i < 300; i++) await fs.mkdir(path.join(deep, `d${i}`));
  for (let i = 0; i < 300; i += 7) await fs.writeFile(path.join(deep, `d${i}`, 'f'), `f${i}`);
  await fs.chmod(path.join(src, 'locked'), 0o000);
  const repo = await Repository.init(new LocalBackend(await tmp('walker-repo')), 'pw', {
    host: 'test',
    kdf: FAST_KDF,
  });
  try {
    const results = [];
    for (const walkerThread of ['always', false] as const) {
      results.push(
        await push(repo, new RepoCache(await tmp('walker-cache'), repo.config.id), {
          paths: [src],
          host: 'test',
          walkerThread,
        }),
      );
    }
    const [threaded, inline] = results;
    expect(await treeOf(repo, threaded!.snapshot.tree, src)).toBe(
      await treeOf(repo, inline!.snapshot.tree, src),
    );
    expect(threaded!.warnings).toEqual(inline!.warnings);
    const nodes = await nodesOf(repo, threaded!.snapshot.tree, src);
    expect(nodes.get('ok')!.type).toBe('file');
    expect([...nodes.keys()].filter((k) => k.startsWith('wide/') && k.endsWith('/f'))).toHaveLength(43);
    // root reads every folder whatever its mode: the warning is there only for others.
    if (process.getuid?.() !== 0)
      expect(threaded!.warnings.map((w) => w.path)).toEqual([path.join(src, 'locked')]);
  } finally {
    await fs.chmod(path.join(src, 'locked'), 0o700);
  }
});
