import type { RepoCache } from '../cache/repo-cache.js';
import { type IndexFile, keys, type PruneMarker, prefixes } from './format.js';
import { readPackHeader } from './pack.js';
import { cachedGet, type Repository } from './repository.js';

/**
 * Loads every index file into the repository's master index. Index files are immutable,
 * so each is downloaded once and then read from the local cache: one LIST per push.
 */
export interface IndexLoadOptions {
  /**
   * Packs to leave out (push: the packs prune has marked for deletion, so that no new
   * snapshot comes to reference them).
   */
  excludePacks?: ReadonlySet<string>;
}

export async function loadIndex(
  repo: Repository,
  cache?: RepoCache,
  options: IndexLoadOptions = {},
): Promise<number> {
  let files = 0;
  const exclude = options.excludePacks;
  for await (const object of repo.backend.list(prefixes.index)) {
    const sealed = await cachedGet(repo.backend, object.key, cache);
    const file = await repo.loadJson<IndexFile>(object.key, sealed);
    repo.index.add(exclude?.size ? { ...file, packs: file.packs.filter((p) => !exclude.has(p.id)) } : file);
    files++;
  }
  return files;
}

/** Every pack id named by a prune marker (`prune/`): packs on their way out. */
export async function loadPrunedPackIds(repo: Repository): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const object of repo.backend.list(prefixes.pruneMarkers)) {
    const marker = await repo.loadJson<PruneMarker>(object.key);
    for (const pack of marker.packs) ids.add(pack.id);
  }
  return ids;
}

export async function saveIndex(
  repo: Repository,
  cache: RepoCache | undefined,
  packs: IndexFile['packs'],
): Promise<string | undefined> {
  if (packs.length === 0) return undefined;
  const file: IndexFile = { version: repo.config.version, packs };
  const { id, sealed } = await repo.saveJson('index/', file);
  repo.index.add(file);
  // Prime the cache so the next push does not download what it just wrote.
  await cache?.write(keys.index(id), sealed);
  return id;
}

/** Packs that no index lists: what a killed push uploaded before its index and snapshot. */
export async function findUnindexedPacks(repo: Repository): Promise<Array<{ id: string; size: number }>> {
  const out: Array<{ id: string; size: number }> = [];
  for await (const object of repo.backend.list(prefixes.data)) {
    const id = object.key.slice(object.key.lastIndexOf('/') + 1);
    if (!repo.index.hasPack(id)) out.push({ id, size: object.size });
  }
  return out;
}

/** Indexes the packs a killed push left behind, so the next push reuses their blobs. */
export async function recoverUnindexedPacks(
  repo: Repository,
  cache?: RepoCache,
  options: IndexLoadOptions = {},
): Promise<{ packs: number; blobs: number }> {
  // A marked pack that no index lists is one prune is deleting: never bring it back.
  const orphans = (await findUnindexedPacks(repo)).filter((p) => !options.excludePacks?.has(p.id));
  const packs: IndexFile['packs'] = [];
  let blobs = 0;
  for (const pack of orphans) {
    try {
      const entries = await readPackHeader(repo, pack.id, pack.size);
      packs.push({ id: pack.id, size: pack.size, blobs: entries });
      blobs += entries.length;
    } catch {
      // A pack cut short or damaged is left alone: nothing references it.
    }
  }
  await saveIndex(repo, cache, packs);
  return { packs: packs.length, blobs };
}
