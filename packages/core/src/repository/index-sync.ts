import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { FORMAT_VERSION, type IndexFile, isBlobField, keys, type PruneMarker, prefixes } from './format.js';
import { readPackHeader } from './pack.js';
import { isIntegrityError, type Repository } from './repository.js';

export interface LoadIndexOptions {
  /** Read every index file from the repository, not the cache, and check the cache against it. */
  fresh?: boolean;
  onCacheMismatch?: (key: string) => void;
  /**
   * Packs to leave out (push: the packs prune has marked for deletion, so that no new
   * snapshot comes to reference them).
   */
  excludePacks?: ReadonlySet<string>;
}

export interface LoadIndexResult {
  files: number;
  /** Index files set aside (they failed authentication): their keys. */
  rejected: string[];
  /**
   * Packs no authenticated index lists, read from their own headers because an index file
   * was rejected: the data that index described stays reachable. Not saved: `push` saves them.
   */
  recovered: IndexFile['packs'];
}

/**
 * Loads every index file into the repository's master index. Index files are immutable,
 * so each is downloaded once and then read from the local cache: one LIST per push.
 * An index file that fails authentication is set aside (`repo.rejected`), and the packs it
 * may have described are indexed from their own headers instead.
 */
export async function loadIndex(
  repo: Repository,
  cache?: RepoCache,
  options: LoadIndexOptions = {},
): Promise<LoadIndexResult> {
  let files = 0;
  const rejected: string[] = [];
  const exclude = options.excludePacks;
  const keys: string[] = [];
  for await (const object of repo.backend.list(prefixes.index)) keys.push(object.key);
  // The next file is fetched while this one is decrypted and parsed (at most one ahead:
  // an index file is up to 10,000–50,000 blobs); each is added in listing order, as before.
  const fetch = (key: string) => {
    const got = repo.getObject(key, cache, options);
    got.catch(() => undefined); // owned: awaited (and its error handled) in its turn below
    return got;
  };
  let next = keys.length > 0 ? fetch(keys[0]!) : undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const fetching = next!;
    next = i + 1 < keys.length ? fetch(keys[i + 1]!) : undefined;
    try {
      const json = await repo.loadJsonBytes(key, await fetching);
      // The shape backupctl writes is read in place (index-scan.ts); any other is parsed.
      if (!repo.index.addJson(json, exclude?.size ? exclude : undefined)) {
        const file = repo.parseJson<IndexFile>(key, json);
        if (!isIndexFile(file)) throw notAnIndex(key);
        repo.index.add(
          exclude?.size ? { ...file, packs: file.packs.filter((p) => !exclude.has(p.id)) } : file,
        );
      }
      files++;
    } catch (error) {
      if (!isIntegrityError(error)) {
        await next?.catch(() => undefined); // nothing of a failed load runs on after it
        throw error;
      }
      repo.reject(key, error);
      rejected.push(key);
    }
  }
  const recovered: IndexFile['packs'] = [];
  if (rejected.length > 0) {
    recovered.push(...(await indexFromPackHeaders(repo, exclude)));
    repo.index.add({ version: FORMAT_VERSION, packs: recovered });
    repo.headerIndexed.push(...recovered);
  } else {
    // A deleted index file leaves no trace but blobs a snapshot needs and no index lists:
    // the first such blob triggers the same recovery (`Repository.locate`).
    repo.indexRecovery = () => indexFromPackHeaders(repo, exclude);
  }
  return { files, rejected, recovered };
}

/** Index entries for every pack that no loaded index lists, read from the packs' headers. */
async function indexFromPackHeaders(
  repo: Repository,
  exclude?: ReadonlySet<string>,
): Promise<IndexFile['packs']> {
  const out: IndexFile['packs'] = [];
  // A marked pack that no index lists is one prune is deleting: never bring it back.
  for (const pack of (await findUnindexedPacks(repo)).filter((p) => !exclude?.has(p.id))) {
    try {
      out.push({ id: pack.id, size: pack.size, blobs: await readPackHeader(repo, pack.id, pack.size) });
    } catch (error) {
      // A pack cut short or damaged by itself is for `check` to report.
      if (!isIntegrityError(error)) throw error;
    }
  }
  return out;
}

/** The shape `MasterIndex.add` relies on: an index that authenticates but is not this is refused. */
function isIndexFile(file: unknown): file is IndexFile {
  const packs = (file as IndexFile | null)?.packs;
  return (
    Array.isArray(packs) &&
    packs.every(
      (p) =>
        typeof p?.id === 'string' &&
        Number.isSafeInteger(p.size) &&
        Array.isArray(p.blobs) &&
        p.blobs.every(
          (b) =>
            typeof b?.id === 'string' &&
            (b.type === 'data' || b.type === 'tree') &&
            isBlobField(b.offset) &&
            isBlobField(b.length) &&
            isBlobField(b.rawLength),
        ),
    )
  );
}

function notAnIndex(key: string): BackupctlError {
  return new BackupctlError(ErrorCodes.integrity, `${key} decrypts but is not an index file`, {
    source: 'environment',
  });
}

/** Every pack id named by a prune marker (`prune/`): packs on their way out. */
export async function loadPrunedPackIds(repo: Repository): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const object of repo.backend.list(prefixes.pruneMarkers)) {
    try {
      const marker = await repo.loadJson<PruneMarker>(object.key);
      for (const pack of marker.packs) ids.add(pack.id);
    } catch (error) {
      // A foreign marker must not stop every push; prune itself re-checks every pack
      // against the indexes and snapshots before it deletes one.
      if (!isIntegrityError(error)) throw error;
      repo.reject(object.key, error);
    }
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
  options: Pick<LoadIndexOptions, 'excludePacks'> = {},
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
    } catch (error) {
      // A pack cut short or damaged is left alone: nothing references it.
      if (!isIntegrityError(error)) throw error;
    }
  }
  await saveIndex(repo, cache, packs);
  return { packs: packs.length, blobs };
}
