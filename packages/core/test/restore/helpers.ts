import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RepoCache } from '../../src/cache/repo-cache.js';
import { FORMAT_VERSION, type Tree, type TreeNode } from '../../src/repository/format.js';
import { saveIndex } from '../../src/repository/index-sync.js';
import { PackWriter } from '../../src/repository/pack.js';
import { Repository } from '../../src/repository/repository.js';
import { LocalBackend } from '../../src/storage/local-backend.js';

export const FAST_KDF = { N: 1024, r: 8, p: 1 };
export const SMALL = {
  chunker: { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 },
  packSize: 512 * 1024,
};

export const tmp = (name: string) => fs.mkdtemp(path.join(tmpdir(), `bk-${name}-`));

export async function localRepo(): Promise<{ repo: Repository; cache: RepoCache; repoDir: string }> {
  const repoDir = await tmp('repo');
  const repo = await Repository.init(new LocalBackend(repoDir), 'pw', {
    host: 'test',
    kdf: FAST_KDF,
    ...SMALL,
  });
  const cache = new RepoCache(await tmp('cache'), repo.config.id);
  return { repo, cache, repoDir };
}

export interface CraftedFile {
  name: string;
  data?: Buffer;
  type?: TreeNode['type'];
  target?: string;
  children?: CraftedFile[];
  mode?: number;
  extra?: Partial<TreeNode>;
}

/**
 * Writes a snapshot whose trees say exactly what `entries` say — names the archiver would
 * never produce included: what a damaged or hostile repository can hand to restore.
 */
export async function craftSnapshot(repo: Repository, entries: CraftedFile[]): Promise<string> {
  const packer = new PackWriter(repo, 1);
  const store = async (list: CraftedFile[]): Promise<string> => {
    const nodes: TreeNode[] = [];
    for (const e of list) {
      const base = { name: e.name, mode: e.mode ?? 0o644, mtimeNs: '1600000000000000000', ...e.extra };
      if (e.children) {
        nodes.push({ ...base, type: 'dir', mode: e.mode ?? 0o755, subtree: await store(e.children) });
      } else if (e.type === 'symlink') {
        nodes.push({ ...base, type: 'symlink', target: e.target ?? '' });
      } else {
        const data = e.data ?? Buffer.alloc(0);
        const chunks: string[] = [];
        if (data.length > 0) {
          const id = await repo.blobId(data);
          await packer.add(id, 'data', data);
          chunks.push(id);
        }
        nodes.push({ ...base, type: 'file', size: data.length, chunks });
      }
    }
    const tree: Tree = { nodes };
    const bytes = Buffer.from(JSON.stringify(tree));
    const id = await repo.blobId(bytes);
    await packer.add(id, 'tree', bytes);
    return id;
  };
  const root = await store(entries);
  await packer.flush();
  await saveIndex(repo, undefined, packer.takeWritten());
  const { id } = await repo.saveJson('snapshots/', {
    version: FORMAT_VERSION,
    time: new Date().toISOString(),
    host: 'test',
    paths: ['/'],
    tags: [],
    tree: root,
    summary: {
      files: 0,
      dirs: 0,
      bytes: 0,
      newBytes: 0,
      newBlobs: 0,
      packsWritten: 0,
      bytesUploaded: 0,
      skipped: 0,
      special: 0,
    },
  });
  return id;
}

/** Every path under `root` (relative), for "nothing else was written" assertions. */
export async function listAll(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      const st = await fs.lstat(path.join(dir, name));
      if (st.isDirectory()) await walk(path.join(dir, name), r);
    }
  };
  await walk(root, '');
  return out;
}
