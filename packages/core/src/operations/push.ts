import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Archiver } from '../archive/archiver.js';
import type { PushEvents, PushOptions, PushResult } from '../archive/types.js';
import { acquireLock } from '../cache/lock.js';
import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { loadIndex, loadPrunedPackIds, recoverUnindexedPacks, saveIndex } from '../repository/index-sync.js';
import { PACK_STAGING_DIR } from '../repository/pack.js';
import type { Repository } from '../repository/repository.js';
import { DirLister } from '../scan/dir-lister.js';
import { removeStaleParts } from '../storage/staged-file.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export type { PushEvents, PushOptions, PushProgress, PushResult, PushWarning } from '../archive/types.js';

/**
 * Backs up `paths` into a new snapshot. Write ordering: packs → index → snapshot. The
 * snapshot is the commit point; a push killed before it leaves packs that the next push
 * finds (stale lock) and indexes, so their content is not uploaded again.
 */
export async function push(
  repo: Repository,
  cache: RepoCache,
  options: PushOptions,
  events: PushEvents = {},
): Promise<PushResult> {
  const started = Date.now();
  for (const p of options.paths) {
    // '' would resolve to the current folder: never back up something nobody named.
    if (p.trim() === '' || p.includes('\0')) {
      throw new BackupctlError(ErrorCodes.usage, `not a path: ${JSON.stringify(p)}`, {
        resolution: 'Give the paths to back up, e.g. `backupctl push ~/Documents`.',
      });
    }
  }
  const roots = normaliseRoots(options.paths);
  for (const root of roots) {
    try {
      await fs.lstat(root);
    } catch {
      throw new BackupctlError(ErrorCodes.pathNotFound, `cannot back up ${root}: it does not exist`, {
        resolution: 'Check the path, or the `paths` in the device config.',
      });
    }
  }
  const lock = await acquireLock(cache.file('lock'), 'push');
  if (options.compression) repo.compression = options.compression;
  const lister = DirLister.start({ worker: Boolean(options.walkerThread) });
  try {
    // Packs prune has marked are on their way out: deduplicating against one could make
    // this snapshot reference a pack deleted before it commits. Leave them out.
    const excludePacks = await loadPrunedPackIds(repo);
    const loaded = await loadIndex(repo, cache, { excludePacks });
    // An index file failed authentication: its packs were read from their own headers;
    // save that as a new index so the repository describes them again.
    if (loaded.recovered.length > 0) await saveIndex(repo, cache, loaded.recovered);
    // The marker says a push began and has not committed: a crash, a kill, or an error
    // (offline, quarantined) left packs that no index lists yet. Index them first.
    const unfinished = cache.file('push-unfinished');
    let recoveredPacks = 0;
    if (lock.stale || (await exists(unfinished))) {
      await repo.backend.removeStaleTemporaries?.();
      await removeStaleParts(cache.file(PACK_STAGING_DIR));
      const recovered = await recoverUnindexedPacks(repo, cache, { excludePacks });
      recoveredPacks = recovered.packs;
      if (recovered.packs > 0) events.onRecovered?.(recovered);
    }
    await writeFileAtomic(unfinished, new Date().toISOString());
    const archiver = new Archiver(repo, cache, options, events, lister);
    const result = await archiver.run(roots);
    try {
      await fs.rm(unfinished, { force: true });
    } catch (error) {
      result.cacheWarnings.push(
        `could not remove ${unfinished} (${(error as Error).message}): the next push looks for packs to recover`,
      );
    }
    return { ...result, recoveredPacks, durationMs: Date.now() - started };
  } finally {
    await lister.close();
    await lock.release();
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

export function normaliseRoots(paths: string[]): string[] {
  const absolute = [...new Set(paths.map((p) => path.resolve(p)))].sort();
  // Drop paths inside another given path: they are backed up with it.
  return absolute.filter((p) => !absolute.some((q) => q !== p && (q === '/' || p.startsWith(`${q}/`))));
}
