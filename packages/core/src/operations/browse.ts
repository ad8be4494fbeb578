import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import type { TreeNode } from '../repository/format.js';
import { loadIndex } from '../repository/index-sync.js';
import type { Repository } from '../repository/repository.js';
import { findSnapshot, type SnapshotWithId } from './find-snapshot.js';

/** One entry of a snapshot, at its absolute backed-up path. */
export interface SnapshotEntry {
  path: string;
  type: TreeNode['type'];
  mode: number;
  mtime: string;
  size?: number;
  target?: string;
}

function entryOf(node: TreeNode, at: string): SnapshotEntry {
  return {
    path: at,
    type: node.type,
    mode: node.mode,
    mtime: new Date(Number(BigInt(node.mtimeNs) / 1_000_000n)).toISOString(),
    ...(node.size === undefined ? {} : { size: node.size }),
    ...(node.target === undefined ? {} : { target: node.target }),
  };
}

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);

/** Normalises a path inside a snapshot: absolute, no trailing slash, no `.`/`..` games. */
export function snapshotPath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

async function openSnapshot(
  repo: Repository,
  cache: RepoCache | undefined,
  ref: string,
): Promise<SnapshotWithId> {
  const snapshot = await findSnapshot(repo, cache, ref);
  if (repo.index.blobCount === 0) await loadIndex(repo, cache);
  return snapshot;
}

/** The node at `path` in the tree `root` ('/' is the root itself: undefined node). */
async function lookup(repo: Repository, root: string, path: string): Promise<TreeNode | undefined> {
  let tree = root;
  let node: TreeNode | undefined;
  for (const name of path.split('/').filter(Boolean)) {
    if (node && node.type !== 'dir') return undefined;
    node = (await repo.readTree(tree)).nodes.find((n) => n.name === name);
    if (!node) return undefined;
    if (node.subtree) tree = node.subtree;
  }
  return node ?? { name: '', type: 'dir', mode: 0o755, mtimeNs: '0', subtree: root };
}

function notInSnapshot(path: string, snapshot: SnapshotWithId): BackupctlError {
  return new BackupctlError(
    ErrorCodes.pathNotFound,
    `${path} is not in snapshot ${snapshot.id.slice(0, 8)}`,
    {
      resolution: `List what it holds with \`backupctl ls ${snapshot.id.slice(0, 8)}\` (its paths: ${snapshot.paths.join(', ')}).`,
    },
  );
}

/**
 * Every entry of a snapshot under `path` (default: all), depth first in name order, as
 * they are read: a large snapshot streams, it is never held whole.
 */
export async function* listSnapshotEntries(
  repo: Repository,
  cache: RepoCache | undefined,
  ref: string,
  path = '/',
): AsyncGenerator<SnapshotEntry, void, void> {
  const snapshot = await openSnapshot(repo, cache, ref);
  const start = snapshotPath(path);
  const node = await lookup(repo, snapshot.tree, start);
  if (!node) throw notInSnapshot(start, snapshot);
  if (start !== '/') yield entryOf(node, start);
  async function* walk(treeId: string, at: string): AsyncGenerator<SnapshotEntry, void, void> {
    for (const child of (await repo.readTree(treeId)).nodes) {
      const childPath = join(at, child.name);
      yield entryOf(child, childPath);
      if (child.subtree) yield* walk(child.subtree, childPath);
    }
  }
  if (node.subtree) yield* walk(node.subtree, start);
}

/**
 * Writes one file of a snapshot to `out`, chunk by chunk (each a ranged GET), waiting for
 * the stream to drain: memory stays at one chunk, whatever the file size.
 */
export async function dumpFile(
  repo: Repository,
  cache: RepoCache | undefined,
  ref: string,
  file: string,
  out: NodeJS.WritableStream,
): Promise<{ path: string; bytes: number }> {
  const snapshot = await openSnapshot(repo, cache, ref);
  const at = snapshotPath(file);
  const node = await lookup(repo, snapshot.tree, at);
  if (!node) throw notInSnapshot(at, snapshot);
  if (node.type !== 'file') {
    throw new BackupctlError(
      ErrorCodes.usage,
      `${at} is a ${node.type === 'dir' ? 'folder' : node.type}, not a file`,
      {
        resolution:
          'Give a file: `backupctl ls SNAPSHOT PATH` shows what is there; `backupctl restore` brings back folders.',
      },
    );
  }
  let bytes = 0;
  for (const id of node.chunks ?? []) {
    const plain = await repo.readBlob(id);
    bytes += plain.length;
    if (!out.write(plain)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  return { path: at, bytes };
}

export type ChangeKind = 'added' | 'removed' | 'modified' | 'metadata' | 'type';

export interface SnapshotChange {
  path: string;
  change: ChangeKind;
  type: TreeNode['type'];
}

export interface DiffResult {
  from: string;
  to: string;
  changes: SnapshotChange[];
  stats: Record<ChangeKind, number> & { addedBytes: number; removedBytes: number };
}

/**
 * What changed between two snapshots, as restic's diff: added, removed, modified content,
 * metadata only (mode, mtime, symlink target unchanged content) and type changes.
 * Identical subtrees (same tree id) are skipped without being read.
 */
export async function diffSnapshots(
  repo: Repository,
  cache: RepoCache | undefined,
  fromRef: string,
  toRef: string,
): Promise<DiffResult> {
  const from = await openSnapshot(repo, cache, fromRef);
  const to = await openSnapshot(repo, cache, toRef);
  const changes: SnapshotChange[] = [];
  const stats = { added: 0, removed: 0, modified: 0, metadata: 0, type: 0, addedBytes: 0, removedBytes: 0 };
  const note = (path: string, change: ChangeKind, node: TreeNode) => {
    changes.push({ path: node.type === 'dir' ? `${path}/` : path, change, type: node.type });
    stats[change]++;
    if (change === 'added') stats.addedBytes += node.size ?? 0;
    if (change === 'removed') stats.removedBytes += node.size ?? 0;
  };
  const all = async (treeId: string, at: string, change: 'added' | 'removed') => {
    for (const node of (await repo.readTree(treeId)).nodes) {
      const p = join(at, node.name);
      note(p, change, node);
      if (node.subtree) await all(node.subtree, p, change);
    }
  };
  const compare = async (a: string, b: string, at: string): Promise<void> => {
    if (a === b) return;
    const left = new Map((await repo.readTree(a)).nodes.map((n) => [n.name, n]));
    const right = (await repo.readTree(b)).nodes;
    const names = [...new Set([...left.keys(), ...right.map((n) => n.name)])].sort((x, y) =>
      Buffer.compare(Buffer.from(x), Buffer.from(y)),
    );
    const rightByName = new Map(right.map((n) => [n.name, n]));
    for (const name of names) {
      const p = join(at, name);
      const l = left.get(name);
      const r = rightByName.get(name);
      if (!r) {
        note(p, 'removed', l!);
        if (l!.subtree) await all(l!.subtree, p, 'removed');
      } else if (!l) {
        note(p, 'added', r);
        if (r.subtree) await all(r.subtree, p, 'added');
      } else if (l.type !== r.type) {
        note(p, 'type', r);
      } else if (l.type === 'dir') {
        if (l.mode !== r.mode) note(p, 'metadata', r);
        await compare(l.subtree!, r.subtree!, p);
      } else if (
        l.type === 'symlink' ? l.target !== r.target : (l.chunks ?? []).join() !== (r.chunks ?? []).join()
      ) {
        note(p, 'modified', r);
      } else if (l.mode !== r.mode || l.mtimeNs !== r.mtimeNs) {
        note(p, 'metadata', r);
      }
    }
  };
  await compare(from.tree, to.tree, '/');
  return { from: from.id, to: to.id, changes, stats };
}
