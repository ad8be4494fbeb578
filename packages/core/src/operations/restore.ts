import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import type { RepoCache } from '../cache/repo-cache.js';
import { BackupctlError, ErrorCodes, errorMessage } from '../errors/index.js';
import { keys } from '../repository/format.js';
import { loadIndex } from '../repository/index-sync.js';
import type { LocatedBlob } from '../repository/master-index.js';
import type { Repository } from '../repository/repository.js';
import { XattrApplier } from '../restore/apply-xattrs.js';
import { type PlannedEntry, planRestore } from '../restore/plan.js';
import {
  applyDirMeta,
  applyLinkMeta,
  applyMetaToHandle,
  createExclusive,
  ensureWritable,
  type FsPath,
  lstatOrUndefined,
  microseconds,
  openNoFollow,
  removeStale,
  tmpNameFor,
} from '../restore/safe-fs.js';
import { findSnapshot } from './find-snapshot.js';

/**
 * What to do with a file already in the target that differs from the snapshot:
 * `never` (default) leaves it and names it; `if-changed` replaces it when its contents
 * differ; `always` replaces whatever is there (never a folder, never through a link).
 */
export type OverwritePolicy = 'always' | 'if-changed' | 'never';
export const OVERWRITE_POLICIES: readonly OverwritePolicy[] = ['always', 'if-changed', 'never'];

export interface RestoreOptions {
  snapshot: string;
  target: string;
  /**
   * Patterns with the exclude rules (restic's): `/`-anchored on the absolute backed-up path,
   * otherwise at any depth; a matching folder brings everything below it.
   */
  include?: string[];
  /** Pack downloads in flight (default 4). */
  concurrency?: number;
  overwrite?: OverwritePolicy;
  /** Read each written file back and compare it with the snapshot before it takes its name. */
  verify?: boolean;
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

interface FileJob {
  entry: PlannedEntry;
  tmp: FsPath;
  remaining: number;
  failed?: string;
}

/** Blobs closer than this within a pack are fetched in one ranged GET. */
const MERGE_GAP = 1024 * 1024;

/**
 * Restores a snapshot under `target`, each backed-up path at its absolute path (as restic
 * does). Nothing is written through a symlink or outside the target; each file is written
 * under a temporary name and renamed into place only when complete and its metadata set, so
 * a killed restore leaves no wrong file under a real name and a re-run finishes the job.
 * Contents are fetched pack by pack — one ranged GET per run of needed blobs. Damaged data
 * fails only the files that need it: they are listed in `failed`, the rest is restored.
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
  const snapshot = await findSnapshot(repo, cache, options.snapshot);
  await loadIndex(repo, cache);
  // The target itself is the user's choice: a symlink there is followed, once, here.
  await fs.mkdir(path.resolve(options.target), { recursive: true });
  const target = await fs.realpath(path.resolve(options.target));
  const plan = await planRestore(repo, snapshot.tree, target, options.include);
  const xattrs = await XattrApplier.create();
  const failed: RestoreProblem[] = [...plan.refused];
  const conflicts: RestoreProblem[] = [];
  /** Folders we could not make ours (by backed-up path): nothing is written below them. */
  const blocked: string[] = [];
  const isBlocked = (abs: string) => blocked.some((b) => abs.startsWith(`${b}/`));
  const fail = (entry: PlannedEntry, reason: string) => failed.push({ path: entry.abs, reason });
  const conflict = (entry: PlannedEntry, reason: string) => conflicts.push({ path: entry.abs, reason });

  // Folders, parents first: each one is lstat-checked, or created by us.
  const dirsDone: PlannedEntry[] = [];
  for (const dir of plan.dirs) {
    if (isBlocked(dir.abs)) continue;
    try {
      const outcome = await ensureDir(dir.dest, overwrite);
      if (outcome === 'ok') dirsDone.push(dir);
      else {
        blocked.push(dir.abs);
        conflict(dir, outcome);
      }
    } catch (error) {
      blocked.push(dir.abs);
      fail(dir, errorMessage(error));
    }
  }

  const files = plan.files.filter((f) => !isBlocked(f.abs));
  // Hard links: the first entry of each link group is restored; the others link to it.
  const primaries = new Map<string, PlannedEntry>();
  const secondaries: PlannedEntry[] = [];
  for (const f of files) {
    const key = f.node.hardlink;
    if (key === undefined) continue;
    if (primaries.has(key)) secondaries.push(f);
    else primaries.set(key, f);
  }
  const secondarySet = new Set(secondaries);
  const progress: RestoreProgress = {
    filesDone: 0,
    filesTotal: files.length,
    bytesDone: 0,
    bytesTotal: files.reduce((n, f) => n + (f.node.size ?? 0), 0),
  };
  let unchanged = 0;
  let verified = 0;

  // Decide per file, then create each one to write under its temporary name.
  const fsLimit = pLimit(16);
  const jobs: FileJob[] = [];
  await Promise.all(
    files
      .filter((entry) => !secondarySet.has(entry))
      .map((entry) =>
        fsLimit(async () => {
          try {
            const decision = await decide(repo, entry, overwrite);
            if (decision === 'write') {
              const job: FileJob = {
                entry,
                tmp: tmpNameFor(entry.dest),
                remaining: entry.node.chunks?.length ?? 0,
              };
              await removeStale(job.tmp);
              await createExclusive(job.tmp, entry.node.size ?? 0);
              jobs.push(job);
              return;
            }
            progress.filesDone++;
            progress.bytesDone += entry.node.size ?? 0;
            if (decision === 'unchanged') unchanged++;
            else if (decision === 'metadata') {
              unchanged++;
              const handle = await openNoFollow(entry.dest, constants.O_RDONLY);
              try {
                await applyMetaToHandle(handle, entry.node, () => xattrs.apply(entry.dest, entry.node));
              } finally {
                await handle.close();
              }
            } else conflict(entry, decision.conflict);
          } catch (error) {
            fail(entry, errorMessage(error));
          }
        }),
      ),
  );

  const finish = async (job: FileJob): Promise<void> => {
    if (job.failed) return;
    try {
      const handle = await openNoFollow(job.tmp, constants.O_RDWR);
      try {
        if (options.verify) {
          const bad = await compareContents(repo, handle, job.entry);
          if (bad) throw new Error(`read back, it differs from the snapshot: ${bad}`);
          verified++;
        }
        await applyMetaToHandle(handle, job.entry.node, () => xattrs.apply(job.tmp, job.entry.node));
      } finally {
        await handle.close();
      }
      await fs.rename(job.tmp, job.entry.dest);
      progress.filesDone++;
    } catch (error) {
      await failJob(job, errorMessage(error));
    }
  };
  const failJob = async (job: FileJob, reason: string): Promise<void> => {
    if (job.failed) return;
    job.failed = reason;
    fail(job.entry, reason);
    await fs.rm(job.tmp, { force: true }).catch(() => undefined);
  };

  const byPack = new Map<
    string,
    Map<string, { blob: LocatedBlob; at: Array<{ job: FileJob; offset: number }> }>
  >();
  for (const job of jobs) {
    let offset = 0;
    for (const id of job.entry.node.chunks ?? []) {
      // locate: a blob a deleted index listed is found from the pack headers.
      const blob = await repo.locate(id);
      if (!blob) {
        await failJob(job, `its data (blob ${id}) is in no index: run \`backupctl check\``);
        break;
      }
      const pack = byPack.get(blob.pack) ?? new Map();
      byPack.set(blob.pack, pack);
      const slot = pack.get(id) ?? { blob, at: [] };
      slot.at.push({ job, offset });
      pack.set(id, slot);
      offset += blob.rawLength;
    }
  }
  await Promise.all(jobs.filter((j) => j.remaining === 0).map((j) => fsLimit(() => finish(j))));
  events.onProgress?.({ ...progress });

  let bytesDownloaded = 0;
  let requests = 0;
  const zeros = new Map<number, Buffer>();
  const isZero = (b: Buffer) => {
    let z = zeros.get(b.length);
    if (!z) {
      z = Buffer.alloc(b.length);
      if (zeros.size < 64) zeros.set(b.length, z);
    }
    return b.equals(z);
  };
  const limit = pLimit(options.concurrency ?? 4);
  await Promise.all(
    [...byPack].map(([packId, blobs]) =>
      limit(async () => {
        const sorted = [...blobs.values()].sort((a, b) => a.blob.offset - b.blob.offset);
        for (const run of mergeRuns(sorted)) {
          if (run.every(({ at }) => at.every((p) => p.job.failed))) continue;
          const start = run[0]!.blob.offset;
          const end = run.at(-1)!.blob.offset + run.at(-1)!.blob.length;
          let bytes: Buffer | undefined;
          let fetchError: string | undefined;
          try {
            bytes = await repo.backend.get(keys.pack(packId), { offset: start, length: end - start });
            bytesDownloaded += bytes.length;
            requests++;
          } catch (error) {
            if (!isDamage(error)) throw error;
            fetchError = `pack ${packId} cannot be read: ${errorMessage(error)}`;
          }
          for (const { blob, at } of run) {
            let plain: Buffer | undefined;
            let reason = fetchError;
            if (bytes && !reason) {
              const sealed = bytes.subarray(blob.offset - start, blob.offset - start + blob.length);
              try {
                if (sealed.length !== blob.length) throw new Error(`pack ${packId} is cut short`);
                plain = await repo.openBlob(sealed, blob);
              } catch (error) {
                if (!isDamage(error)) throw error;
                reason = errorMessage(error);
              }
            }
            for (const place of at) {
              if (place.job.failed) continue;
              if (!plain) {
                await failJob(place.job, `damaged data: ${reason}`);
                continue;
              }
              try {
                // An all-zero chunk is left a hole: the file was created at its full size.
                if (!isZero(plain)) {
                  const handle = await openNoFollow(place.job.tmp, constants.O_WRONLY);
                  try {
                    await writeFully(handle, plain, place.offset);
                  } finally {
                    await handle.close();
                  }
                }
              } catch (error) {
                // A full disk stops the restore (NO_SPACE): every further file would fail too.
                if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw error;
                await failJob(place.job, errorMessage(error));
                continue;
              }
              progress.bytesDone += plain.length;
              if (--place.job.remaining === 0) await finish(place.job);
            }
          }
          events.onProgress?.({ ...progress });
        }
      }),
    ),
  );

  const notRestored = new Set([...failed, ...conflicts].map((p) => p.path));
  for (const entry of secondaries) {
    const primary = primaries.get(entry.node.hardlink!)!;
    if (notRestored.has(primary.abs)) {
      fail(entry, `it is a hard link of ${primary.abs}, which was not restored`);
      continue;
    }
    try {
      const outcome = await restoreHardLink(entry, primary, overwrite);
      progress.filesDone++;
      if (outcome === 'unchanged') unchanged++;
      else if (outcome !== 'ok') conflict(entry, outcome);
    } catch (error) {
      fail(entry, errorMessage(error));
    }
  }

  let symlinks = 0;
  for (const link of plan.links) {
    if (isBlocked(link.abs)) continue;
    try {
      const outcome = await restoreSymlink(link, overwrite);
      if (outcome === 'ok') symlinks++;
      else conflict(link, outcome);
    } catch (error) {
      fail(link, errorMessage(error));
    }
  }
  // Deepest folders first: a child's metadata is set before its parent's mtime and mode.
  for (const dir of [...dirsDone].sort((a, b) => b.abs.length - a.abs.length)) {
    try {
      await applyDirMeta(dir.dest, dir.node, () => xattrs.apply(dir.dest, dir.node));
    } catch (error) {
      fail(dir, errorMessage(error));
    }
  }
  const failedPaths = new Set(failed.map((f) => f.path));
  const conflictPaths = new Set(conflicts.map((c) => c.path));
  return {
    snapshotId: snapshot.id,
    target,
    files: files.filter((f) => !failedPaths.has(f.abs) && !conflictPaths.has(f.abs)).length,
    dirs: dirsDone.length,
    symlinks,
    bytes: progress.bytesTotal,
    bytesDownloaded,
    requests,
    unchanged,
    verified,
    failed,
    conflicts: conflicts.filter((c) => !failed.some((f) => f.path === c.path)),
    warnings: xattrs.warnings(),
  };
}

/**
 * Writes all of `data` at `position`. A write can be short without an error (libuv returns
 * what it wrote before a full disk): go on until all is written, so a full disk surfaces as
 * ENOSPC instead of a file silently cut short.
 */
async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

/** Damage to the repository's data (fails the files that need it) vs. anything else (stops). */
function isDamage(error: unknown): boolean {
  return (
    BackupctlError.is(error) &&
    (error.code === ErrorCodes.integrity || error.code === ErrorCodes.objectNotFound)
  );
}

/** Makes `dest` a real folder of ours; returns 'ok' or why it was left alone. */
async function ensureDir(dest: FsPath, overwrite: OverwritePolicy): Promise<string> {
  let st = await lstatOrUndefined(dest);
  if (st && !st.isDirectory()) {
    if (overwrite === 'never') {
      return `${st.isSymbolicLink() ? 'a symlink' : 'a file'} is where the snapshot has a folder (--overwrite always or if-changed replaces it)`;
    }
    // Unlinking removes the link or file itself: nothing it points to.
    await fs.unlink(dest);
    st = undefined;
  }
  if (!st) {
    await fs.mkdir(dest, { mode: 0o700 });
    st = await lstatOrUndefined(dest);
    if (!st?.isDirectory()) throw new Error(`${dest} changed while it was being created`);
  }
  await ensureWritable(dest, st);
  return 'ok';
}

type Decision = 'write' | 'unchanged' | 'metadata' | { conflict: string };

/** What to do with a file given what is already at its place. */
async function decide(repo: Repository, entry: PlannedEntry, overwrite: OverwritePolicy): Promise<Decision> {
  const st = await lstatOrUndefined(entry.dest);
  if (!st) return 'write';
  if (st.isDirectory()) return { conflict: 'a folder is where the snapshot has a file' };
  if (!st.isFile()) {
    return overwrite === 'never'
      ? {
          conflict: `${st.isSymbolicLink() ? 'a symlink' : 'a special file'} is where the snapshot has a file`,
        }
      : 'write';
  }
  if (overwrite === 'always') return 'write';
  const sameSize = Number(st.size) === (entry.node.size ?? 0);
  const node = entry.node;
  if (
    sameSize &&
    microseconds(st.mtimeNs) === microseconds(BigInt(node.mtimeNs)) &&
    Number(st.mode & 0o7777n) === node.mode
  ) {
    return 'unchanged';
  }
  if (sameSize) {
    const handle = await openNoFollow(entry.dest, constants.O_RDONLY);
    let differs: string | undefined;
    try {
      differs = await compareContents(repo, handle, entry);
    } finally {
      await handle.close();
    }
    if (!differs) return 'metadata';
  }
  if (overwrite === 'if-changed') return 'write';
  return { conflict: 'a different file is already there (--overwrite if-changed or always replaces it)' };
}

/** Reads an open file chunk by chunk and compares each with the snapshot's blob id. */
async function compareContents(
  repo: Repository,
  handle: fs.FileHandle,
  entry: PlannedEntry,
): Promise<string | undefined> {
  let offset = 0;
  for (const id of entry.node.chunks ?? []) {
    const blob = await repo.locate(id);
    if (!blob) return `blob ${id} is in no index`;
    const buffer = Buffer.alloc(blob.rawLength);
    const { bytesRead } = await handle.read(buffer, 0, blob.rawLength, offset);
    if (bytesRead !== blob.rawLength || (await repo.blobId(buffer)) !== id)
      return `bytes ${offset}–${offset + blob.rawLength}`;
    offset += blob.rawLength;
  }
  const extra = await handle.read(Buffer.alloc(1), 0, 1, offset);
  return extra.bytesRead > 0 ? `longer than ${offset} bytes` : undefined;
}

/** Links `entry` to the restored `primary`, under a temporary name renamed into place. */
async function restoreHardLink(
  entry: PlannedEntry,
  primary: PlannedEntry,
  overwrite: OverwritePolicy,
): Promise<string> {
  const first = await lstatOrUndefined(primary.dest);
  if (!first?.isFile()) throw new Error(`${primary.abs} is not there to link to`);
  const st = await lstatOrUndefined(entry.dest);
  if (st && st.ino === first.ino && st.dev === first.dev) return 'unchanged';
  if (st?.isDirectory()) return 'a folder is where the snapshot has a file';
  if (st && overwrite === 'never') {
    return 'a different file is already there (--overwrite if-changed or always replaces it)';
  }
  const tmp = tmpNameFor(entry.dest);
  await removeStale(tmp);
  // link() does not follow a symlink given as its source; the source is a file we restored.
  await fs.link(primary.dest, tmp);
  await fs.rename(tmp, entry.dest);
  return 'ok';
}

async function restoreSymlink(link: PlannedEntry, overwrite: OverwritePolicy): Promise<string> {
  const target =
    link.node.targetBytes === undefined
      ? Buffer.from(link.node.target ?? '')
      : Buffer.from(link.node.targetBytes, 'base64');
  const st = await lstatOrUndefined(link.dest);
  if (st?.isSymbolicLink() && (await fs.readlink(link.dest, { encoding: 'buffer' })).equals(target)) {
    await applyLinkMeta(link.dest, link.node);
    return 'ok';
  }
  if (st?.isDirectory()) return 'a folder is where the snapshot has a symlink';
  if (st && overwrite === 'never')
    return 'something else is where the snapshot has a symlink (--overwrite replaces it)';
  const tmp = tmpNameFor(link.dest);
  await removeStale(tmp);
  await fs.symlink(target, tmp);
  await applyLinkMeta(tmp, link.node);
  await fs.rename(tmp, link.dest);
  return 'ok';
}

function mergeRuns<T extends { blob: LocatedBlob }>(sorted: T[]): T[][] {
  const runs: T[][] = [];
  for (const item of sorted) {
    const run = runs.at(-1);
    const last = run?.at(-1);
    if (run && last && item.blob.offset - (last.blob.offset + last.blob.length) <= MERGE_GAP) run.push(item);
    else runs.push([item]);
  }
  return runs;
}
