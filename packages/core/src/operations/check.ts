import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes, errorMessage } from '../errors/index.js';
import { keys, prefixes } from '../repository/format.js';
import { loadIndex } from '../repository/index-sync.js';
import { parsePack } from '../repository/pack.js';
import { isIntegrityError, type Repository } from '../repository/repository.js';
import { objectNameProblem } from '../repository/verify-object.js';
import { TaskGroup } from '../util/task-group.js';

export interface CheckOptions {
  /** Download every pack and verify every blob (else: structure only). */
  readData?: boolean;
}

export interface CheckProblem {
  kind:
    | 'missing-pack'
    | 'pack-size'
    | 'damaged-pack'
    | 'missing-blob'
    | 'damaged-tree'
    | 'damaged-snapshot'
    | 'rejected-object'
    | 'unindexed-data';
  message: string;
  /** The object concerned, when there is one (e.g. `index/…`, `snapshots/…`, `keys/…`). */
  key?: string;
}

export interface CheckResult {
  ok: boolean;
  snapshots: number;
  packs: number;
  blobs: number;
  /** Packs no index lists: left by an interrupted push; harmless, reused by the next. */
  unindexedPacks: number;
  /**
   * The packs no authenticated index file lists (those of `unindexedPacks`, and those a
   * rejected index described): `backupctl repair index` saves an index for them.
   */
  unindexedPackIds: string[];
  packsRead: number;
  /** Packs indexed from their own headers because an index file was rejected. */
  recoveredPacks: number;
  /** Local cache copies that differed from the repository (replaced; `readData` only). */
  cacheMismatches: number;
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
  // With readData, every index and snapshot is read from the repository itself, never the
  // local cache: the copies elsewhere are what another machine would restore from.
  let cacheMismatches = 0;
  const fresh = {
    fresh: options.readData === true,
    onCacheMismatch: () => {
      cacheMismatches++;
    },
  };
  await repo.auditKeys();
  const loaded = await loadIndex(repo, cache, fresh);

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
  const unindexed = [...stored.keys()].filter((id) => !repo.index.hasPack(id));

  let snapshots = 0;
  const seenTrees = new Set<string>();
  const visit = async (treeId: string, where: string): Promise<void> => {
    if (seenTrees.has(treeId)) return;
    seenTrees.add(treeId);
    let nodes: Awaited<ReturnType<Repository['readTree']>>['nodes'];
    try {
      nodes = (await repo.readTree(treeId)).nodes;
    } catch (error) {
      if (!isDamage(error)) throw error;
      problems.push({ kind: 'damaged-tree', message: `tree ${treeId} (${where}): ${errorMessage(error)}` });
      return;
    }
    for (const node of nodes) {
      const at = `${where === '/' ? '' : where}/${node.name}`;
      for (const id of node.chunks ?? []) {
        if (!(await repo.locate(id)))
          problems.push({ kind: 'missing-blob', message: `${at}: data blob ${id} missing` });
      }
      if (node.subtree) await visit(node.subtree, at);
    }
  };
  let snapshotList: Awaited<ReturnType<Repository['listSnapshots']>> = [];
  try {
    snapshotList = await repo.listSnapshots(cache, fresh);
  } catch (error) {
    if (!isDamage(error)) throw error;
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
    // The first failure that is not damage (offline, denied) stops the others and is thrown
    // as it is: a reset connection is never reported as a damaged pack.
    const group = new TaskGroup(2);
    for (const [id] of all) {
      void group.spawn(async (signal) => {
        if (signal.aborted) return;
        const problem = await verifyPack(repo, id);
        if (problem) problems.push(problem);
        packsRead++;
        events.onProgress?.({ phase: 'data', done: packsRead, total: all.length });
      });
    }
    await group.wait();
  }
  const unindexedPackIds = [...new Set([...unindexed, ...repo.headerIndexed.map((p) => p.id)])].sort();
  if (repo.headerIndexed.length > 0 && repo.rejected.size === 0) {
    problems.push({
      kind: 'unindexed-data',
      message: `${repo.headerIndexed.length} pack(s) hold data that snapshots need but no index file lists (an index file was lost): ${namePacks(repo.headerIndexed.map((p) => p.id))}. Restore and check read them from their own headers; \`backupctl repair index\` saves a new index for them`,
    });
  }
  // Objects set aside while reading (keys at open, index files, snapshots): each one named.
  for (const rejected of repo.rejected.values()) {
    problems.push({
      kind: 'rejected-object',
      key: rejected.key,
      message: `${rejected.key} fails authentication and was left aside (${rejected.kind === 'key' ? 'a foreign or damaged key file' : rejected.kind === 'index' ? `a foreign or damaged index file; ${loaded.recovered.length} pack(s) were indexed from their own headers instead, \`backupctl repair index\` saves a new index for them` : 'a foreign or damaged snapshot; the other snapshots are usable'}): ${rejected.reason}`,
    });
  }
  return {
    ok: problems.length === 0,
    snapshots,
    packs: repo.index.packCount,
    blobs: repo.index.blobCount,
    unindexedPacks: unindexed.length,
    unindexedPackIds,
    packsRead,
    recoveredPacks: repo.headerIndexed.length,
    cacheMismatches,
    problems,
  };
}

/** Pack ids for a message: the first ten, then how many more (`unindexedPackIds` has all). */
function namePacks(ids: string[]): string {
  const sorted = [...ids].sort();
  return sorted.length <= 10
    ? sorted.join(', ')
    : `${sorted.slice(0, 10).join(', ')} and ${sorted.length - 10} more`;
}

/** Damage found in what was read — as opposed to a failure to read it (offline, denied). */
function isDamage(error: unknown): boolean {
  return isIntegrityError(error) || (BackupctlError.is(error) && error.code === ErrorCodes.objectNotFound);
}

async function verifyPack(repo: Repository, id: string): Promise<CheckProblem | undefined> {
  const key = keys.pack(id);
  try {
    const body = await repo.backend.get(key);
    const nameProblem = objectNameProblem(key, body);
    if (nameProblem) return { kind: 'damaged-pack', key, message: `pack ${id}: ${nameProblem}` };
    const entries = await parsePack(repo, id, body);
    for (const entry of entries) {
      const indexed = repo.index.get(entry.id);
      if (
        indexed &&
        indexed.pack === id &&
        (indexed.offset !== entry.offset || indexed.length !== entry.length)
      ) {
        return {
          kind: 'damaged-pack',
          key,
          message: `pack ${id}: header and index disagree on blob ${entry.id}`,
        };
      }
      await repo.openBlob(body.subarray(entry.offset, entry.offset + entry.length), { ...entry, pack: id });
    }
    return undefined;
  } catch (error) {
    if (!isDamage(error)) throw error;
    return { kind: 'damaged-pack', key, message: `pack ${id}: ${errorMessage(error)}` };
  }
}
