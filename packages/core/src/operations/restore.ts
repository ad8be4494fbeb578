import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes, errorMessage } from '../errors/index.js';
import type { TreeNode } from '../repository/format.js';
import { loadIndex } from '../repository/index-sync.js';
import type { Repository } from '../repository/repository.js';
import { XattrApplier } from '../restore/apply-xattrs.js';
import { BoundedTasks } from '../restore/bounded.js';
import { ContentRestorer, DEFAULT_CONTENT_LIMITS, type FileDone, readLimits } from '../restore/contents.js';
import {
  decide,
  ensureDir,
  type OverwritePolicy,
  restoreHardLink,
  restoreSymlink,
  restoreSymlinkFresh,
} from '../restore/entries.js';
import { DEFAULT_FOLDERS_AHEAD, FoldersAhead } from '../restore/folders-ahead.js';
import { KeptTrees } from '../restore/kept-trees.js';
import { PackPlan } from '../restore/pack-plan.js';
import { PackSpool } from '../restore/pack-spool.js';
import { countFiles, folderEntries, IncludeRules, isDamage, type PlannedEntry } from '../restore/plan.js';
import {
  applyDirMetaSync,
  applyMetaToFdSync,
  applyMetaToHandle,
  openNoFollow,
  tmpNameFor,
} from '../restore/safe-fs.js';
import { TreeReader } from '../restore/tree-reader.js';
import { utimeArg } from '../restore/utime-precision.js';
import { TaskGroup } from '../util/task-group.js';
import { findSnapshot } from './find-snapshot.js';

/** Bytes of packs kept on disk by default when requests cost (about 16 of push's ~16 MiB packs). */
const DEFAULT_SPOOL_BYTES = 256 * 1024 * 1024;
/**
 * Bytes the spool reads ahead of need (about 4 packs; a pack asked for still loads up to
 * DEFAULT_SPOOL_BYTES): held all at once, every pack took new page-cache pages, ~0.4 s of
 * system time on the real tree (docs/benchmarks.md, "Restore from S3: CPU").
 */
const SPOOL_AHEAD_BYTES = 64 * 1024 * 1024;
/** Packs downloaded into the spool at once. */
const SPOOL_AHEAD = 3;

/** Whether a node has extended attributes to set (they need the main thread's xattr module). */
function hasXattrs(node: TreeNode): boolean {
  return node.xattrs !== undefined && !(Array.isArray(node.xattrs) && node.xattrs.length === 0);
}

export { OVERWRITE_POLICIES, type OverwritePolicy } from '../restore/entries.js';

export interface RestoreOptions {
  snapshot: string;
  target: string;
  /**
   * Patterns with the exclude rules (restic's): `/`-anchored on the absolute backed-up path,
   * otherwise at any depth; a matching folder brings everything below it.
   */
  include?: string[];
  /** Pack downloads (ranged GETs) in flight (default 4, of up to 8 MiB each; from a local folder 2, of up to 4 MiB). */
  concurrency?: number;
  overwrite?: OverwritePolicy;
  /** Read each written file back and compare it with the snapshot before it takes its name. */
  verify?: boolean;
  /** Memory and concurrency bounds (defaults suit any tree; tests make them small). */
  limits?: Partial<RestoreLimits>;
}

export interface RestoreLimits {
  /** Files planned at once in one window of the content pipeline. */
  windowFiles: number;
  /** Blob references planned at once in one window. */
  windowBlobs: number;
  /** Files kept open between writes. */
  openFiles: number;
  /** Bytes of tree packs kept for the walk. */
  treeCacheBytes: number;
  /**
   * Bytes of plain trees the counting walk keeps for the restore walk, which then opens
   * them once, not twice (restore/kept-trees.ts); when they do not all fit, none is kept
   * and the restore walk reads them again. 0: none.
   */
  keptTreeBytes: number;
  /** Files and symlinks being decided and set up at once. */
  entryConcurrency: number;
  /** File-system calls of the content pipeline in flight (writes, metadata, renames). */
  fsConcurrency: number;
  /** Worker threads that open blobs and write small files beside the main thread (0: none). */
  workers: number;
  /** Folders made before any file, during the counting walk (restore/folders-ahead.ts; 0: none). */
  foldersAhead: number;
  /**
   * Bytes of packs kept on disk (the cache folder) so that each needed span of a pack is
   * read with one request (restore/pack-spool.ts); 0: none. By default 256 MiB on a store
   * whose requests cost (S3), none on a local folder.
   */
  spoolBytes: number;
}

export interface RestoreProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface RestoreEvents {
  onProgress?(progress: RestoreProgress): void;
}

/** One entry that was not restored, by its backed-up path. */
export interface RestoreProblem {
  path: string;
  reason: string;
}

export interface RestoreResult {
  snapshotId: string;
  target: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  bytesDownloaded: number;
  requests: number;
  /** Files already in the target with the snapshot's contents: left as they were. */
  unchanged: number;
  /** Files read back and found equal to the snapshot (with `verify`). */
  verified: number;
  /** Entries that could not be restored: damaged or missing data, refused names, errors. */
  failed: RestoreProblem[];
  /** Entries left in place because something different was there (see `overwrite`). */
  conflicts: RestoreProblem[];
  /** What was restored without some of its metadata (extended attributes): one line per kind. */
  warnings: string[];
}

/**
 * A folder of the snapshot during the walk. `pending` counts what must finish before its
 * own metadata is set (mode and mtime last, so read-only folders and mtimes hold): its walk,
 * and each file, link and subfolder in it. `ready` says whether it was made ours; a folder
 * only an --include below it needs is made on demand.
 */
class Folder {
  pending = 1;
  ready: Promise<boolean> | undefined;
  /** Created by this restore (so empty before it): nothing in it needs a look first. */
  fresh = false;
  /** Who owns a file created in it. */
  owner: { uid: number; gid: number } | undefined;
  constructor(
    readonly entry: PlannedEntry | undefined,
    readonly parent: Folder | undefined,
    readonly dest: string | Buffer,
    readonly abs: string,
  ) {}
}

/** A hard link group's first entry: the others link to it once it is restored. */
interface Primary {
  entry: PlannedEntry;
  restored: Promise<boolean>;
  settle: (ok: boolean) => void;
}

/**
 * Restores a snapshot under `target`, each backed-up path at its absolute path (as restic
 * does). Nothing is written through a symlink or outside the target; each file is written
 * under a temporary name and renamed into place only when complete and its metadata set, so
 * a killed restore leaves no wrong file under a real name and a re-run finishes the job.
 *
 * Memory is bounded whatever the snapshot's size: the trees are walked depth first (a tree
 * is loaded, its entries restored, then dropped), file contents go through a pipeline of
 * bounded windows grouped by pack (restore/contents.ts), and open files, downloads and file
 * system calls in flight are bounded. Damaged data fails only the files that need it: they
 * are listed in `failed`, the rest is restored.
 */
export async function restore(
  repo: Repository,
  cache: RepoCache | undefined,
  options: RestoreOptions,
  events: RestoreEvents = {},
): Promise<RestoreResult> {
  if (options.target.trim() === '') {
    throw new BackupctlError(ErrorCodes.usage, 'the restore target is empty', {
      resolution: 'Give the folder to restore into, e.g. `--target /tmp/restore`.',
    });
  }
  const overwrite = options.overwrite ?? 'never';
  const limits: RestoreLimits = {
    windowFiles: DEFAULT_CONTENT_LIMITS.windowFiles,
    windowBlobs: DEFAULT_CONTENT_LIMITS.windowBlobs,
    openFiles: DEFAULT_CONTENT_LIMITS.openFiles,
    treeCacheBytes: 16 * 1024 * 1024,
    keptTreeBytes: 12 * 1024 * 1024,
    entryConcurrency: 16,
    fsConcurrency: DEFAULT_CONTENT_LIMITS.fsConcurrency,
    workers: DEFAULT_CONTENT_LIMITS.workers,
    foldersAhead: DEFAULT_FOLDERS_AHEAD,
    spoolBytes: repo.backend.requestsCost ? DEFAULT_SPOOL_BYTES : 0,
    ...options.limits,
  };
  const snapshot = await findSnapshot(repo, cache, options.snapshot);
  await loadIndex(repo, cache);
  // The target itself is the user's choice: a symlink there is followed, once, here.
  await fs.mkdir(path.resolve(options.target), { recursive: true });
  const target = await fs.realpath(path.resolve(options.target));
  // Into an empty target every file planned is written: its packs may be read ahead of need.
  const emptyTarget = limits.spoolBytes > 0 && (await isEmptyFolder(target));
  const include = new IncludeRules(options.include);
  const xattrs = await XattrApplier.create();
  const reader = new TreeReader(
    repo,
    limits.treeCacheBytes,
    limits.keptTreeBytes > 0 ? new KeptTrees(limits.keptTreeBytes) : undefined,
  );

  // Totals for progress: a first walk that holds nothing but the trees on its path.
  const count = (treeId: string, abs: string, included: boolean) =>
    countFiles(reader, treeId, abs, include, included);
  // The same walk makes the folders to restore, before any file (restore/folders-ahead.ts).
  const foldersAhead = new FoldersAhead(limits.foldersAhead);
  // And learns which parts of which packs the files need, to read each once (pack-spool.ts);
  // a pack needed for most of itself is read whole while the walk goes on (EarlyReads).
  const spool =
    limits.spoolBytes > 0
      ? await PackSpool.create(repo.backend, undefined, cache?.dir ?? os.tmpdir(), {
          bytes: limits.spoolBytes,
          aheadBytes: SPOOL_AHEAD_BYTES,
          ahead: SPOOL_AHEAD,
          eager: emptyTarget,
        })
      : undefined;
  const packPlan = spool
    ? new PackPlan(
        (id) => repo.index.get(id),
        emptyTarget
          ? { sizeOf: (pack) => repo.index.packSize(pack), start: (pack, size) => spool.early(pack, size) }
          : undefined,
      )
    : undefined;
  let totals: Awaited<ReturnType<typeof countFiles>>;
  try {
    totals = await countFiles(
      reader.keeping(),
      snapshot.tree,
      '/',
      include,
      false,
      { folders: foldersAhead, dest: target },
      packPlan,
    );
  } catch (error) {
    await spool?.close();
    throw error;
  }
  reader.counted();
  if (packPlan) spool?.planned(packPlan.finish());
  const progress: RestoreProgress = {
    filesDone: 0,
    filesTotal: totals.files,
    bytesDone: 0,
    bytesTotal: totals.bytes,
  };
  const report = () => events.onProgress?.({ ...progress });

  const failed: RestoreProblem[] = [];
  const conflicts: RestoreProblem[] = [];
  const failedPaths = new Set<string>();
  const fail = (abs: string, reason: string) => {
    failed.push({ path: abs, reason });
    failedPaths.add(abs);
  };
  const conflict = (abs: string, reason: string) => conflicts.push({ path: abs, reason });
  /** A file that will not be restored for its folder's sake: out of the totals. */
  const skip = (entry: PlannedEntry) => {
    progress.filesTotal--;
    progress.bytesTotal -= entry.node.size ?? 0;
  };
  let files = 0;
  let dirs = 0;
  let symlinks = 0;
  let unchanged = 0;

  const reads = readLimits(repo.backend.requestsCost === true && !spool);
  const contents = new ContentRestorer(repo, {
    limits: {
      ...DEFAULT_CONTENT_LIMITS,
      ...reads,
      concurrency: options.concurrency ?? reads.concurrency,
      windowFiles: limits.windowFiles,
      windowBlobs: limits.windowBlobs,
      openFiles: limits.openFiles,
      fsConcurrency: limits.fsConcurrency,
      workers: limits.workers,
    },
    spool,
    verify: options.verify ?? false,
    progress,
    onProgress: report,
    // A file's metadata, set through its descriptor before it takes its name: further
    // metadata (extended attributes) goes in both of these (the second: small files).
    // Extended attributes go on the temporary file (by path: lsetxattr, never through a link).
    applyMeta: (handle, entry, owner) =>
      applyMetaToHandle(handle, entry.node, owner, () => xattrs.apply(tmpNameFor(entry.dest), entry.node)),
    applyMetaSync: (fd, entry, owner) =>
      applyMetaToFdSync(fd, entry.node, owner, () => xattrs.applySync(tmpNameFor(entry.dest), entry.node)),
    // The same metadata for a restore worker (applyMetaToFdSync's steps); a file with
    // extended attributes stays on the main thread, which holds the xattr module.
    workerMeta: (entry, owner) => {
      const node = entry.node;
      if (hasXattrs(node)) return undefined;
      return {
        size: node.size ?? 0,
        mode: node.mode,
        mtime: utimeArg(node.mtimeNs),
        ...(node.uid !== undefined && node.gid !== undefined ? { uid: node.uid, gid: node.gid } : {}),
        ownerMatches: owner !== undefined && owner.uid === node.uid && owner.gid === node.gid,
      };
    },
  });
  // Files and symlinks being set up (bounded: the walk waits); hard links wait for their
  // first entry apart, so that waiting never holds up the walk; folder metadata.
  const entryTasks = new BoundedTasks(limits.entryConcurrency);
  const linkTasks = new TaskGroup();
  const primaries = new Map<string, Primary>();

  const noSpace = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOSPC';

  /** Makes a folder ours (its parents first); false when it was left alone. */
  const ensure = (folder: Folder): Promise<boolean> => {
    if (!folder.entry) return Promise.resolve(true);
    const entry = folder.entry;
    folder.ready ??= (async () => {
      if (!(await ensure(folder.parent!))) return false;
      try {
        const outcome =
          foldersAhead.take(folder.dest) ?? (await ensureDir(folder.dest, overwrite, folder.parent!.fresh));
        if (typeof outcome !== 'string') {
          folder.fresh = outcome.fresh;
          folder.owner = outcome.owner;
          dirs++;
          return true;
        }
        conflict(entry.abs, outcome);
      } catch (error) {
        if (noSpace(error)) throw error;
        fail(entry.abs, errorMessage(error));
      }
      return false;
    })();
    return folder.ready;
  };

  /**
   * One thing in `folder` is done; the last one sets the folder's metadata, then its
   * parent's (a promise then; nothing to wait for before).
   */
  const release = (folder: Folder): Promise<void> | undefined =>
    --folder.pending > 0 ? undefined : complete(folder);

  const complete = async (folder: Folder): Promise<void> => {
    if (folder.entry && folder.ready && (await folder.ready)) {
      try {
        const node = folder.entry.node;
        applyDirMetaSync(folder.dest, node, () => xattrs.applySync(folder.dest, node));
      } catch (error) {
        if (noSpace(error)) throw error;
        fail(folder.entry.abs, errorMessage(error));
      }
    }
    if (folder.parent) await release(folder.parent);
  };

  /** What the content pipeline calls once `entry` has its name or has failed. */
  const fileDone =
    (entry: PlannedEntry, folder: Folder, primary?: Primary): FileDone =>
    (reason) => {
      if (reason === undefined) files++;
      else fail(entry.abs, reason);
      primary?.settle(reason === undefined);
      return release(folder);
    };

  /** A file to write into `folder` (made ours): handed to the content pipeline. */
  const write = async (entry: PlannedEntry, folder: Folder, primary?: Primary): Promise<void> => {
    await contents.add(entry, folder.owner, fileDone(entry, folder, primary));
  };

  /** A file of a folder this restore made that the pipeline did not take: failed (a full disk stops all). */
  const freshFailed = (error: unknown, entry: PlannedEntry, folder: Folder, primary?: Primary) => {
    if (noSpace(error)) throw error;
    fail(entry.abs, errorMessage(error));
    primary?.settle(false);
    return release(folder);
  };

  /**
   * `write` for a file of a folder this restore made (nothing to decide), from the walk
   * itself: a promise only when the walk is to wait (the pipeline is full), none per file.
   */
  const writeFresh = (entry: PlannedEntry, folder: Folder, primary?: Primary): Promise<void> | undefined => {
    try {
      return contents
        .add(entry, folder.owner, fileDone(entry, folder, primary))
        ?.catch((error: unknown) => freshFailed(error, entry, folder, primary));
    } catch (error) {
      return freshFailed(error, entry, folder, primary);
    }
  };

  const restoreFile = async (entry: PlannedEntry, folder: Folder, primary?: Primary): Promise<void> => {
    const settle = (ok: boolean) => primary?.settle(ok);
    if (!(await ensure(folder))) {
      skip(entry);
      settle(false);
      return release(folder);
    }
    let decision: Awaited<ReturnType<typeof decide>>;
    try {
      decision = folder.fresh ? 'write' : await decide(repo, entry, overwrite);
      if (decision === 'write') {
        await write(entry, folder, primary);
        return;
      }
      if (decision === 'metadata') {
        const handle = await openNoFollow(entry.dest, constants.O_RDONLY);
        try {
          await applyMetaToHandle(handle, entry.node, undefined, () => xattrs.apply(entry.dest, entry.node));
        } finally {
          await handle.close();
        }
      }
    } catch (error) {
      if (noSpace(error)) throw error;
      fail(entry.abs, errorMessage(error));
      settle(false);
      return release(folder);
    }
    progress.filesDone++;
    progress.bytesDone += entry.node.size ?? 0;
    if (decision === 'unchanged' || decision === 'metadata') {
      unchanged++;
      files++;
      settle(true);
    } else {
      conflict(entry.abs, decision.conflict);
      settle(false);
    }
    await release(folder);
  };

  const restoreLink = async (entry: PlannedEntry, folder: Folder, primary: Primary): Promise<void> => {
    const ok = await primary.restored;
    try {
      if (!(await ensure(folder))) {
        skip(entry);
        return;
      }
      if (!ok) {
        fail(entry.abs, `it is a hard link of ${primary.entry.abs}, which was not restored`);
        return;
      }
      const outcome = await restoreHardLink(entry, primary.entry, overwrite);
      progress.filesDone++;
      if (outcome === 'ok' || outcome === 'unchanged') files++;
      if (outcome === 'unchanged') unchanged++;
      else if (outcome !== 'ok') conflict(entry.abs, outcome);
    } catch (error) {
      if (noSpace(error)) throw error;
      fail(entry.abs, errorMessage(error));
    } finally {
      await release(folder);
    }
  };

  const restoreSymlinkIn = async (entry: PlannedEntry, folder: Folder): Promise<void> => {
    try {
      if (!(await ensure(folder))) return;
      const outcome = folder.fresh
        ? await restoreSymlinkFresh(entry, overwrite)
        : await restoreSymlink(entry, overwrite);
      if (outcome === 'ok') symlinks++;
      else conflict(entry.abs, outcome);
    } catch (error) {
      if (noSpace(error)) throw error;
      fail(entry.abs, errorMessage(error));
    } finally {
      await release(folder);
    }
  };

  /** Depth first: one tree at a time on each level, its entries handed on, then dropped. */
  const walk = async (folder: Folder, treeId: string, included: boolean): Promise<void> => {
    let entries: PlannedEntry[];
    try {
      entries = folderEntries(await reader.read(treeId), folder.abs, folder.dest, (r) =>
        fail(r.path, r.reason),
      );
    } catch (error) {
      if (!isDamage(error) || !folder.entry) throw error;
      fail(folder.abs, `its list of entries (tree ${treeId}) cannot be read: ${errorMessage(error)}`);
      return;
    }
    for (const entry of entries) {
      const wanted = included || include.wanted(entry.abs);
      const node = entry.node;
      if (node.type === 'dir') {
        const child = new Folder(entry, folder, entry.dest, entry.abs);
        folder.pending++;
        if (wanted && !(await ensure(child))) {
          // Left alone (named in conflicts or failed): nothing is written below it.
          if (node.subtree) {
            const below = await count(node.subtree, entry.abs, true);
            progress.filesTotal -= below.files;
            progress.bytesTotal -= below.bytes;
          }
        } else if (node.subtree) {
          await walk(child, node.subtree, wanted);
        }
        await release(child);
        continue;
      }
      if (!wanted) continue;
      folder.pending++;
      if (node.type === 'symlink') {
        await entryTasks.start(() => restoreSymlinkIn(entry, folder));
        continue;
      }
      const key = node.hardlink;
      const first = key === undefined ? undefined : primaries.get(key);
      if (key !== undefined && first) {
        void linkTasks.spawn(() => restoreLink(entry, folder, first));
        continue;
      }
      let primary: Primary | undefined;
      if (key !== undefined) {
        let settle: (ok: boolean) => void = () => undefined;
        const restored = new Promise<boolean>((resolve) => {
          settle = resolve;
        });
        primary = { entry, restored, settle };
        primaries.set(key, primary);
      }
      // In a folder this restore made there is nothing to look at first: no task of its own
      // (a promise chain and closures per file, on the main thread), the pipeline's bound holds.
      if (folder.fresh) {
        const room = writeFresh(entry, folder, primary);
        if (room) await room;
      } else await entryTasks.start(() => restoreFile(entry, folder, primary));
    }
  };

  const root = new Folder(undefined, undefined, target, '/');
  try {
    await walk(root, snapshot.tree, false);
    await entryTasks.wait();
    await contents.finish();
    await linkTasks.wait();
    await release(root);
  } catch (error) {
    // Stopping: every task started is awaited (and every hard link let go) before throwing.
    for (const p of primaries.values()) p.settle(false);
    await entryTasks.wait().catch(() => undefined);
    await contents.drain();
    await linkTasks.wait().catch(() => undefined);
    throw error;
  } finally {
    await spool?.close();
  }
  report();
  const conflictsOnly = conflicts.filter((c) => !failedPaths.has(c.path));
  return {
    snapshotId: snapshot.id,
    target,
    files,
    dirs,
    symlinks,
    bytes: progress.bytesTotal,
    bytesDownloaded: contents.bytesDownloaded + (spool?.bytesDownloaded ?? 0),
    requests: contents.requests + (spool?.requests ?? 0),
    unchanged,
    verified: contents.verified,
    failed,
    conflicts: conflictsOnly,
    warnings: xattrs.warnings(),
  };
}

/** Whether a folder holds nothing (one entry read, whatever its size). */
async function isEmptyFolder(folder: string): Promise<boolean> {
  const dir = await fs.opendir(folder);
  try {
    return (await dir.read()) === null;
  } finally {
    await dir.close();
  }
}
