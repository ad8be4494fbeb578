import type { RepoCache } from '../cache/repo-cache.js';
import type { IndexFile } from '../repository/format.js';
import { findUnindexedPacks, loadIndex, loadPrunedPackIds, saveIndex } from '../repository/index-sync.js';
import { readPackHeader } from '../repository/pack.js';
import { isIntegrityError, type Repository } from '../repository/repository.js';

export interface RepairIndexOptions {
  /** Only say which packs a new index would list; write nothing. */
  dryRun?: boolean;
}

export interface RepairIndexResult {
  /** Packs no authenticated index file lists, indexed from their own headers. */
  packs: Array<{ id: string; blobs: number }>;
  /** Packs no index lists whose header could not be read (damaged or cut short): left alone. */
  unreadable: Array<{ id: string; reason: string }>;
  /** Index files set aside because they fail authentication (never deleted). */
  rejectedIndexes: string[];
  /** The new index file (`index/<id>`), unless `dryRun` or nothing was to index. */
  indexId?: string;
  dryRun: boolean;
}

/**
 * Saves a new index file for the packs that no authenticated index lists — after an index
 * file was deleted or damaged, or packs a killed push left — read from the packs' own
 * headers. It only adds: one create-only `index/` object (what the device key may write);
 * nothing is deleted or replaced, and a rejected index file stays where it is. Packs a
 * prune marker names are on their way out and are left unindexed.
 */
export async function repairIndex(
  repo: Repository,
  cache: RepoCache | undefined,
  options: RepairIndexOptions = {},
): Promise<RepairIndexResult> {
  const excludePacks = await loadPrunedPackIds(repo);
  const loaded = await loadIndex(repo, cache, { fresh: true, excludePacks });
  const found = new Map<string, IndexFile['packs'][number]>();
  // An index file that was rejected: loadIndex already read the packs' headers.
  for (const pack of loaded.recovered) found.set(pack.id, pack);
  const unreadable: RepairIndexResult['unreadable'] = [];
  for (const pack of await findUnindexedPacks(repo)) {
    if (found.has(pack.id) || excludePacks.has(pack.id)) continue;
    try {
      found.set(pack.id, {
        id: pack.id,
        size: pack.size,
        blobs: await readPackHeader(repo, pack.id, pack.size),
      });
    } catch (error) {
      if (!isIntegrityError(error)) throw error;
      unreadable.push({ id: pack.id, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  const packs = [...found.values()].sort((a, b) => a.id.localeCompare(b.id));
  const dryRun = options.dryRun === true;
  const indexId = dryRun ? undefined : await saveIndex(repo, cache, packs);
  return {
    packs: packs.map((p) => ({ id: p.id, blobs: p.blobs.length })),
    unreadable,
    rejectedIndexes: loaded.rejected,
    ...(indexId ? { indexId } : {}),
    dryRun,
  };
}
