import pLimit from 'p-limit';
import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, errorMessage } from '../errors/index.js';
import { keys, prefixes } from '../repository/format.js';
import { loadIndex } from '../repository/index-sync.js';
import { parsePack } from '../repository/pack.js';
import { type Repository, sha256Hex } from '../repository/repository.js';

export interface CheckOptions {
  /** Download every pack and verify every blob (else: structure only). */
  readData?: boolean;
}

export interface CheckProblem {
  kind: 'missing-pack' | 'pack-size' | 'damaged-pack' | 'missing-blob' | 'damaged-tree' | 'damaged-snapshot';
  message: string;
}

export interface CheckResult {
  ok: boolean;
  snapshots: number;
  packs: number;
  blobs: number;
  /** Packs no index lists: left by an interrupted push; harmless, reused by the next. */
  unindexedPacks: number;
  packsRead: number;
  problems: CheckProblem[];
}

export interface CheckEvents {
  onProgress?(progress: { phase: 'structure' | 'data'; done: number; total: number }): void;
}

/**
 * Verifies the repository: every pack an index lists exists with its size; every
 * snapshot's trees load and every blob they reference is indexed; with `readData`, every
 * pack's hash matches its name and every blob decrypts to its id.
 */
export async function check(
  repo: Repository,
  cache?: RepoCache,
  options: CheckOptions = {},
  events: CheckEvents = {},
): Promise<CheckResult> {
  const problems: CheckProblem[] = [];
  await loadIndex(repo, cache);

  const stored = new Map<string, number>();
  for await (const object of repo.backend.list(prefixes.data)) {
    stored.set(object.key.slice(object.key.lastIndexOf('/') + 1), object.size);
  }
  for (const [id, size] of repo.index.packIds()) {
    const actual = stored.get(id);
    if (actual === undefined)
      problems.push({ kind: 'missing-pack', message: `pack ${id} is listed but missing` });
    else if (actual !== size) {
      problems.push({ kind: 'pack-size', message: `pack ${id} has ${actual} bytes, the index says ${size}` });
    }
  }
  const unindexedPacks = [...stored.keys()].filter((id) => !repo.index.hasPack(id)).length;

  let snapshots = 0;
  const seenTrees = new Set<string>();
  const visit = async (treeId: string, where: string): Promise<void> => {
    if (seenTrees.has(treeId)) return;
    seenTrees.add(treeId);
    let nodes: Awaited<ReturnType<Repository['readTree']>>['nodes'];
    try {
      nodes = (await repo.readTree(treeId)).nodes;
    } catch (error) {
      problems.push({ kind: 'damaged-tree', message: `tree ${treeId} (${where}): ${errorMessage(error)}` });
      return;
    }
    for (const node of nodes) {
      const at = `${where === '/' ? '' : where}/${node.name}`;
      for (const id of node.chunks ?? []) {
        if (!repo.index.has(id))
          problems.push({ kind: 'missing-blob', message: `${at}: data blob ${id} missing` });
      }
      if (node.subtree) await visit(node.subtree, at);
    }
  };
  let snapshotList: Awaited<ReturnType<Repository['listSnapshots']>> = [];
  try {
    snapshotList = await repo.listSnapshots(cache);
  } catch (error) {
    problems.push({ kind: 'damaged-snapshot', message: errorMessage(error) });
  }
  for (const snapshot of snapshotList) {
    snapshots++;
    await visit(snapshot.tree, '/');
    events.onProgress?.({ phase: 'structure', done: snapshots, total: snapshotList.length });
  }

  let packsRead = 0;
  if (options.readData) {
    const all = [...repo.index.packIds()].filter(([id]) => stored.has(id));
    const limit = pLimit(2);
    await Promise.all(
      all.map(([id]) =>
        limit(async () => {
          const problem = await verifyPack(repo, id);
          if (problem) problems.push(problem);
          packsRead++;
          events.onProgress?.({ phase: 'data', done: packsRead, total: all.length });
        }),
      ),
    );
  }
  return {
    ok: problems.length === 0,
    snapshots,
    packs: repo.index.packCount,
    blobs: repo.index.blobCount,
    unindexedPacks,
    packsRead,
    problems,
  };
}

async function verifyPack(repo: Repository, id: string): Promise<CheckProblem | undefined> {
  try {
    const body = await repo.backend.get(keys.pack(id));
    if (sha256Hex(body) !== id)
      return { kind: 'damaged-pack', message: `pack ${id}: contents do not match its name` };
    const entries = await parsePack(repo, id, body);
    for (const entry of entries) {
      const indexed = repo.index.get(entry.id);
      if (
        indexed &&
        indexed.pack === id &&
        (indexed.offset !== entry.offset || indexed.length !== entry.length)
      ) {
        return { kind: 'damaged-pack', message: `pack ${id}: header and index disagree on blob ${entry.id}` };
      }
      await repo.openBlob(body.subarray(entry.offset, entry.offset + entry.length), { ...entry, pack: id });
    }
    return undefined;
  } catch (error) {
    return {
      kind: 'damaged-pack',
      message: `pack ${id}: ${BackupctlError.is(error) ? error.message : errorMessage(error)}`,
    };
  }
}
