import { hostname } from 'node:os';
import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes, errorMessage } from '../errors/index.js';
import { FORMAT_VERSION, type IndexFile, keys, type PruneMarker, prefixes } from '../repository/format.js';
import { saveIndex } from '../repository/index-sync.js';
import type { Repository } from '../repository/repository.js';
import { type DeletableBackend, isDeletable } from '../storage/backend.js';

/** Default safety margin: longer than any push may run (an hourly timer, a slow uplink). */
export const DEFAULT_PRUNE_SAFETY_MARGIN_MS = 24 * 3_600_000;
/** Packs per index file written by prune. */
const PACKS_PER_INDEX = 5000;

export interface PruneOptions {
  dryRun?: boolean;
  /** A marked pack is deleted only once marked for at least this long (default 24 h). */
  safetyMarginMs?: number;
  /** The clock (tests pass a fake one). */
  now?: () => Date;
  host?: string;
}

export interface PruneStep {
  /** Where prune is: tests kill it at each of these. */
  step: 'analysed' | 'marked' | 'index-written' | 'index-removed' | 'pack-deleted' | 'markers-rewritten';
}

export interface PruneEvents {
  onStep?(step: PruneStep): void | Promise<void>;
}

export interface PackTally {
  packs: number;
  bytes: number;
}

export interface PruneResult {
  dryRun: boolean;
  snapshots: number;
  packs: {
    total: number;
    /** Every blob still referenced. */
    used: number;
    /** Some blobs referenced, some not (kept whole; not repacked). */
    partlyUsed: number;
    unused: number;
  };
  /** Newly found unreferenced, and marked now (with dryRun: would be). */
  marked: PackTally;
  /** Marked earlier, still inside the safety margin: deleted by a later prune. */
  waiting: PackTally & { deletableAfter?: string };
  /** Marked earlier, now referenced again (by a push that was in flight): kept. */
  rescued: number;
  /** Deleted (with dryRun: would be). */
  deleted: PackTally & { indexFiles: number };
  safetyMarginMs: number;
}

interface MarkerFile {
  key: string;
  marker: PruneMarker;
}

/**
 * Removes packs no snapshot references, without locks, while devices keep pushing. As
 * kopia's maintenance does, deletion waits out a time-based safety margin:
 *
 * 1. Find every blob the snapshots reference (any unreadable snapshot or tree stops prune:
 *    nothing is deleted on a partial view). An indexed pack holding none is unreferenced.
 * 2. Mark newly unreferenced packs in a `prune/<id>` marker with the current time. A push
 *    reads the markers first and neither deduplicates against nor recovers a marked pack,
 *    so only a push that started before the marker can still come to reference it — and it
 *    finishes within the margin.
 * 3. A marked pack that is referenced again (that push committed) is kept. A marked pack
 *    still unreferenced after the margin is deleted, in this order: write new index files
 *    listing every other pack, remove the index files they replace, delete the packs,
 *    then rewrite the markers. Every crash point leaves each referenced blob in an indexed
 *    pack; at worst a deleted pack's index entries or marker stay behind for the next run.
 *
 * Packs no index lists (a push in flight or killed) are never touched; partly used packs
 * are kept whole.
 */
export async function prune(
  repo: Repository,
  cache: RepoCache | undefined,
  options: PruneOptions = {},
  events: PruneEvents = {},
): Promise<PruneResult> {
  const backend = repo.backend;
  if (!options.dryRun && !isDeletable(backend)) {
    throw new BackupctlError(
      ErrorCodes.adminRequired,
      `${backend.location} cannot delete with these credentials`,
      {
        resolution: 'Run prune with the owner’s admin credentials.',
      },
    );
  }
  const now = options.now ?? (() => new Date());
  const margin = options.safetyMarginMs ?? DEFAULT_PRUNE_SAFETY_MARGIN_MS;
  const started = now();

  // Markers first, then the index, then the snapshots: a snapshot committed after we read
  // the index may reference only packs the index we read lists (or newer ones).
  const markers: MarkerFile[] = [];
  for await (const object of backend.list(prefixes.pruneMarkers)) {
    markers.push({ key: object.key, marker: await repo.loadJson<PruneMarker>(object.key) });
  }
  const indexFiles: Array<{ key: string; file: IndexFile }> = [];
  for await (const object of backend.list(prefixes.index)) {
    const file = await repo.loadJson<IndexFile>(object.key);
    indexFiles.push({ key: object.key, file });
    repo.index.add(file);
  }
  const used = await referencedBlobs(repo, cache);

  // Earliest mark time of each marked pack.
  const markedAt = new Map<string, { time: number; size: number }>();
  for (const { marker } of markers) {
    const time = Date.parse(marker.time);
    for (const pack of marker.packs) {
      const seen = markedAt.get(pack.id);
      if (!seen || time < seen.time) markedAt.set(pack.id, { time, size: pack.size });
    }
  }

  // Which pack keeps each used blob: a blob stored twice (a push re-uploaded it rather
  // than reuse a marked pack) is kept by an unmarked pack when there is one.
  const packSizes = new Map<string, number>();
  const holder = new Map<string, string>();
  for (const marked of [false, true]) {
    for (const { file } of indexFiles) {
      for (const pack of file.packs) {
        packSizes.set(pack.id, pack.size);
        if (markedAt.has(pack.id) !== marked) continue;
        for (const blob of pack.blobs) {
          if (used.blobs.has(blob.id) && !holder.has(blob.id)) holder.set(blob.id, pack.id);
        }
      }
    }
  }
  let partlyUsed = 0;
  const unused = new Set<string>();
  const counted = new Set<string>();
  for (const { file } of indexFiles) {
    for (const pack of file.packs) {
      if (counted.has(pack.id)) continue;
      counted.add(pack.id);
      const held = pack.blobs.filter((blob) => holder.get(blob.id) === pack.id).length;
      if (held === 0) unused.add(pack.id);
      else if (held < pack.blobs.length) partlyUsed++;
    }
  }
  const rescued = [...markedAt.keys()].filter((id) => packSizes.has(id) && !unused.has(id));
  const fresh = [...unused].filter((id) => !markedAt.has(id)).map((id) => ({ id, size: packSizes.get(id)! }));
  await events.onStep?.({ step: 'analysed' });

  if (!options.dryRun && fresh.length > 0) {
    const marker: PruneMarker = {
      version: FORMAT_VERSION,
      time: started.toISOString(),
      host: options.host ?? hostname(),
      packs: fresh,
    };
    const { id } = await repo.saveJson('prune/', marker);
    markers.push({ key: keys.pruneMarker(id), marker });
    for (const pack of fresh) markedAt.set(pack.id, { time: started.getTime(), size: pack.size });
    await events.onStep?.({ step: 'marked' });
  } else if (options.dryRun) {
    for (const pack of fresh) markedAt.set(pack.id, { time: started.getTime(), size: pack.size });
  }

  // Deletable: marked, past the margin, and unreferenced now (indexed and unused, or no
  // longer indexed at all — a prune that died between its index rewrite and its deletes).
  const deadline = started.getTime() - margin;
  const deletable: Array<{ id: string; size: number }> = [];
  let waitingBytes = 0;
  let waitingPacks = 0;
  let earliestWaiting = Number.POSITIVE_INFINITY;
  for (const [id, mark] of markedAt) {
    const stillUnused = unused.has(id) || !packSizes.has(id);
    if (!stillUnused) continue;
    if (mark.time <= deadline) deletable.push({ id, size: mark.size });
    else {
      waitingPacks++;
      waitingBytes += mark.size;
      earliestWaiting = Math.min(earliestWaiting, mark.time);
    }
  }
  const deletableIds = new Set(deletable.map((p) => p.id));
  const affectedIndexes = indexFiles.filter(({ file }) => file.packs.some((p) => deletableIds.has(p.id)));

  if (!options.dryRun && isDeletable(backend)) {
    await deletePacks(repo, backend, cache, { deletable, deletableIds, affectedIndexes, events });
    await rewriteMarkers(repo, backend, markers, deletableIds, new Set(rescued), events);
  }

  return {
    dryRun: Boolean(options.dryRun),
    snapshots: used.snapshots,
    packs: {
      total: packSizes.size,
      used: packSizes.size - unused.size - partlyUsed,
      partlyUsed,
      unused: unused.size,
    },
    marked: { packs: fresh.length, bytes: fresh.reduce((n, p) => n + p.size, 0) },
    waiting: {
      packs: waitingPacks,
      bytes: waitingBytes,
      ...(waitingPacks > 0 ? { deletableAfter: new Date(earliestWaiting + margin).toISOString() } : {}),
    },
    rescued: rescued.length,
    deleted: {
      packs: deletable.length,
      bytes: deletable.reduce((n, p) => n + p.size, 0),
      indexFiles: affectedIndexes.length,
    },
    safetyMarginMs: margin,
  };
}

async function deletePacks(
  repo: Repository,
  backend: DeletableBackend,
  cache: RepoCache | undefined,
  plan: {
    deletable: Array<{ id: string }>;
    deletableIds: Set<string>;
    affectedIndexes: Array<{ key: string; file: IndexFile }>;
    events: PruneEvents;
  },
): Promise<void> {
  if (plan.deletable.length === 0) return;
  // 1. The new index first: every other pack of the files being replaced.
  const kept = plan.affectedIndexes.flatMap(({ file }) =>
    file.packs.filter((p) => !plan.deletableIds.has(p.id)),
  );
  for (let i = 0; i < kept.length; i += PACKS_PER_INDEX) {
    await saveIndex(repo, cache, kept.slice(i, i + PACKS_PER_INDEX));
  }
  await plan.events.onStep?.({ step: 'index-written' });
  // 2. Then the index files it replaces: no live index references a pack to delete.
  for (const { key } of plan.affectedIndexes) {
    await backend.delete(key);
    await cache?.remove(key);
  }
  await plan.events.onStep?.({ step: 'index-removed' });
  // 3. Then the packs.
  for (const pack of plan.deletable) {
    await backend.delete(keys.pack(pack.id));
    await plan.events.onStep?.({ step: 'pack-deleted' });
  }
}

/** Replaces each marker that named deleted or rescued packs: the new one first. */
async function rewriteMarkers(
  repo: Repository,
  backend: DeletableBackend,
  markers: MarkerFile[],
  deleted: Set<string>,
  rescued: Set<string>,
  events: PruneEvents,
): Promise<void> {
  let changed = false;
  for (const { key, marker } of markers) {
    const rest = marker.packs.filter((p) => !deleted.has(p.id) && !rescued.has(p.id));
    if (rest.length === marker.packs.length) continue;
    if (rest.length > 0) await repo.saveJson('prune/', { ...marker, packs: rest });
    await backend.delete(key);
    changed = true;
  }
  if (changed) await events.onStep?.({ step: 'markers-rewritten' });
}

/** Every blob (trees and data) that some snapshot references. */
export async function referencedBlobs(
  repo: Repository,
  cache?: RepoCache,
): Promise<{ blobs: Set<string>; snapshots: number }> {
  const blobs = new Set<string>();
  let snapshots: Awaited<ReturnType<Repository['listSnapshots']>>;
  try {
    snapshots = await repo.listSnapshots(cache);
  } catch (error) {
    throw unsafe(`a snapshot cannot be read: ${errorMessage(error)}`, error);
  }
  const visit = async (treeId: string): Promise<void> => {
    if (blobs.has(treeId)) return;
    blobs.add(treeId);
    let tree: Awaited<ReturnType<Repository['readTree']>>;
    try {
      tree = await repo.readTree(treeId);
    } catch (error) {
      throw unsafe(`tree ${treeId} cannot be read: ${errorMessage(error)}`, error);
    }
    for (const node of tree.nodes) {
      for (const id of node.chunks ?? []) blobs.add(id);
      if (node.subtree) await visit(node.subtree);
    }
  };
  for (const snapshot of snapshots) await visit(snapshot.tree);
  return { blobs, snapshots: snapshots.length };
}

function unsafe(message: string, cause: unknown): BackupctlError {
  return new BackupctlError(ErrorCodes.pruneUnsafe, `prune stopped, nothing deleted: ${message}`, {
    source: 'environment',
    cause,
    resolution:
      'Run `backupctl check` to see the damage; prune only deletes with a complete view of what is used.',
  });
}
