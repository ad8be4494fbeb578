import type { RepoCache } from '../cache/repo-cache.js';
import { type IndexFile, keys, prefixes } from './format.js';
import { readPackHeader } from './pack.js';
import { cachedGet, type Repository } from './repository.js';

/**
 * Loads every index file into the repository's master index. Index files are immutable,
 * so each is downloaded once and then read from the local cache: one LIST per push.
 */
export async function loadIndex(repo: Repository, cache?: RepoCache): Promise<number> {
  let files = 0;
  for await (const object of repo.backend.list(prefixes.index)) {
    const sealed = await cachedGet(repo.backend, object.key, cache);
    repo.index.add(await repo.loadJson<IndexFile>(object.key, sealed));
    files++;
  }
  return files;
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
): Promise<{ packs: number; blobs: number }> {
  const orphans = await findUnindexedPacks(repo);
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
