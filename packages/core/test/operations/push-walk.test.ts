import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { makeEdgeCaseTree } from '../../../../test/support/tree.js';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { push } from '../../src/operations/push.js';
import type { Tree } from '../../src/repository/format.js';
import { Repository } from '../../src/repository/repository.js';
import { planPush } from '../../src/scan/plan.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { writeExcludeTree } from '../scan/exclude-tree.js';

const FAST_KDF = { N: 1024, r: 8, p: 1 };
const SMALL = {
  chunker: { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 },
  packSize: 512 * 1024,
};
const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

async function setup() {
  const repo = await Repository.init(new LocalBackend(await tmp('repo')), 'correct horse', {
    host: 'test',
    kdf: FAST_KDF,
    ...SMALL,
  });
  return repo;
}

/** The tree id of `dir` in a snapshot whose root tree is `root`. */
async function treeOf(repo: Repository, root: string, dir: string): Promise<string> {
  let id = root;
  for (const name of dir.split(path.sep).filter(Boolean)) {
    const node = (await repo.readTree(id)).nodes.find((n) => n.name === name);
    if (!node?.subtree) throw new Error(`${name} is not in the tree`);
    id = node.subtree;
  }
  return id;
}

/** Every tree below `id`: each one's bytes are JSON.stringify of its object (the id checks out). */
async function allTrees(
  repo: Repository,
  id: string,
  out = new Map<string, Tree>(),
): Promise<Map<string, Tree>> {
  const tree = await repo.readTree(id);
  out.set(id, tree);
  for (const node of tree.nodes) if (node.subtree) await allTrees(repo, node.subtree, out);
  return out;
}

it('an unchanged re-push stores the very trees a push without a file cache stores, and leaves files.bin untouched', async () => {
  const source = await tmp('src');
  await makeEdgeCaseTree(source);
  // Non-UTF-8 names, a folder of 600 entries (more than the readers in flight), and depth.
  await fs.writeFile(Buffer.from(`${source}/bad-\xff-name`, 'latin1'), 'bytes');
  await fs.mkdir(path.join(source, 'many'));
  for (let i = 0; i < 600; i++) await fs.writeFile(path.join(source, 'many', `f${i}`), `file ${i}`);
  await fs.mkdir(path.join(source, 'a/b/c/d'), { recursive: true });
  await fs.writeFile(path.join(source, 'a/b/c/d/deep.txt'), 'deep');
  await fs.link(path.join(source, 'docs/readme.txt'), path.join(source, 'a/hardlink.txt'));
  const repo = await setup();
  const cacheDir = await tmp('cache');
  const cache = new RepoCache(cacheDir, repo.config.id);

  const first = await push(repo, cache, { paths: [source], host: 'test' });
  expect(first.warnings).toEqual([]);
  const second = await push(repo, cache, { paths: [source], host: 'test' });
  expect(second.snapshot.summary.newBlobs).toBe(0);
  const filesBin = cache.file('files.bin');
  const before = await fs.stat(filesBin);
  const beforeBytes = await fs.readFile(filesBin);
  const third = await push(repo, cache, { paths: [source], host: 'test' });
  // A fresh cache: every file read again, every node built from what was read.
  const cold = await push(repo, new RepoCache(await tmp('cache'), repo.config.id), {
    paths: [source],
    host: 'test',
  });

  const ids = await Promise.all(
    [first, second, third, cold].map((r) => treeOf(repo, r.snapshot.tree, source)),
  );
  expect(new Set(ids).size).toBe(1);
  for (const r of [second, third, cold]) expect(r.snapshot.summary.files).toBe(first.snapshot.summary.files);

  // Each tree's bytes are exactly JSON.stringify({ nodes }) of its nodes, in byte order of names.
  const trees = await allTrees(repo, ids[0]!);
  for (const [id, tree] of trees) {
    expect(await repo.blobId(Buffer.from(JSON.stringify(tree)))).toBe(id);
    const names = tree.nodes.map((n) =>
      n.nameBytes ? Buffer.from(n.nameBytes, 'base64') : Buffer.from(n.name),
    );
    expect([...names].sort(Buffer.compare)).toEqual(names);
  }
  const top = await repo.readTree(ids[0]!);
  expect(top.nodes.find((n) => n.nameBytes)?.nameBytes).toBe(
    Buffer.from('bad-\xff-name', 'latin1').toString('base64'),
  );
  expect((await repo.readTree(top.nodes.find((n) => n.name === 'many')!.subtree!)).nodes).toHaveLength(600);

  // The third push recorded what the second did: files.bin was neither written nor replaced.
  const after = await fs.stat(filesBin);
  expect([after.ino, after.mtimeMs, after.size]).toEqual([before.ino, before.mtimeMs, before.size]);
  expect((await fs.readFile(filesBin)).equals(beforeBytes)).toBe(true);
  expect((await fs.readdir(path.dirname(filesBin))).filter((f) => f.startsWith('files.bin'))).toEqual([
    'files.bin',
  ]);

  // One file changed: only it is read again, and files.bin is rewritten with it.
  await fs.writeFile(path.join(source, 'many', 'f300'), 'changed');
  const fourth = await push(repo, cache, { paths: [source], host: 'test' });
  expect(fourth.snapshot.summary.newBlobs).toBe(1);
  expect((await fs.readFile(filesBin)).equals(beforeBytes)).toBe(false);
  const fifth = await push(repo, cache, { paths: [source], host: 'test' });
  expect(fifth.snapshot.summary.newBlobs).toBe(0);
  expect(await treeOf(repo, fifth.snapshot.tree, source)).toBe(
    await treeOf(repo, fourth.snapshot.tree, source),
  );
});

it('push leaves out exactly what the dry run does (patterns, .backupctlignore per folder, CACHEDIR.TAG)', async () => {
  const root = await tmp('scan');
  await writeExcludeTree(root, ['proj/src/deeper/x.log']);
  const options = { excludes: ['*.tmp'], excludeCaches: true };
  const planned: string[] = [];
  await planPush([root], options, {
    onEntry: (e) => {
      if ('type' in e && e.type === 'file') planned.push(path.relative(root, e.path));
    },
  });
  const repo = await setup();
  const result = await push(repo, new RepoCache(await tmp('cache'), repo.config.id), {
    paths: [root],
    host: 'test',
    ...options,
  });
  const pushed: string[] = [];
  const walk = async (id: string, at: string) => {
    for (const node of (await repo.readTree(id)).nodes) {
      if (node.subtree) await walk(node.subtree, path.join(at, node.name));
      else pushed.push(path.join(at, node.name));
    }
  };
  await walk(await treeOf(repo, result.snapshot.tree, root), '');
  expect(pushed.sort()).toEqual(planned.sort());
  expect(pushed).not.toContain('proj/src/deeper/x.log');
  expect(pushed).toContain('proj/important.log');
  expect(pushed).toContain('fake-cache/blob');
});

it('a wide folder and small ones, listed by the walker thread, keep every name, in byte order', async () => {
  const repo = await setup();
  const cache = new RepoCache(await tmp('cache'), repo.config.id);
  const src = await tmp('wide-src');
  const wide = path.join(src, 'wide');
  await fs.mkdir(wide);
  await fs.mkdir(path.join(src, 'small'));
  const names = Array.from({ length: 6000 }, (_, i) => `${String(i).padStart(5, '0')}-${'n'.repeat(60)}`);
  for (const name of names) await fs.writeFile(path.join(wide, name), '');
  await fs.writeFile(path.join(src, 'small', 'b'), 'b');
  await fs.writeFile(path.join(src, 'small', 'a'), 'a');
  const result = await push(repo, cache, { paths: [src], host: 'test' });
  expect(result.warnings).toEqual([]);
  const wideTree = await repo.readTree(await treeOf(repo, result.snapshot.tree, wide));
  expect(wideTree.nodes.map((n) => n.name)).toEqual([...names].sort());
  const small = await repo.readTree(await treeOf(repo, result.snapshot.tree, path.join(src, 'small')));
  expect(small.nodes.map((n) => n.name)).toEqual(['a', 'b']);
});
