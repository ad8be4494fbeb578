import { createHash } from 'node:crypto';
import {
  type BigIntStats,
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  promises as fs,
  futimesSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  openSync,
  utimesSync,
} from 'node:fs';
import path from 'node:path';
import { utimeArg } from './utime-precision.js';

/**
 * File-system steps of a restore that never follow a symlink: every folder is checked with
 * lstat (or created by us), files are created under a temporary name with O_EXCL|O_NOFOLLOW
 * and renamed into place, and modes, owners and times are set through an open descriptor.
 *
 * Node has no openat()/mkdirat(), so a process racing us *inside the target* between the
 * check of a folder and its use is not excluded (restic has the same limit); everything a
 * snapshot or an earlier restore left in the target is.
 */

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
/** Windows has neither flag: there, checks fall back to lstat before each path operation. */
const HAS_NOFOLLOW = O_NOFOLLOW !== 0 && process.platform !== 'win32';
const IS_ROOT = process.platform !== 'win32' && process.getuid?.() === 0;

export const TMP_SUFFIX = '.backupctl-restore';

export type FsPath = string | Buffer;

export async function lstatOrUndefined(p: FsPath): Promise<BigIntStats | undefined> {
  try {
    return await fs.lstat(p, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The temporary name a file or symlink is written under before it is renamed to `dest`:
 * fixed per name, so a re-run after a kill finds and replaces what the killed run left.
 */
export function tmpNameFor(dest: FsPath): FsPath {
  if (typeof dest === 'string') {
    // Text (nearly every name): the same name without a round trip through bytes.
    const cut = dest.lastIndexOf(path.sep) + 1;
    const base = dest.slice(cut);
    if (Buffer.byteLength(base) <= 200) return `${dest.slice(0, cut)}.${base}${TMP_SUFFIX}`;
  }
  const bytes = Buffer.from(dest);
  const cut = bytes.lastIndexOf(path.sep) + 1;
  const base = bytes.subarray(cut);
  const short =
    base.length <= 200 ? base : Buffer.from(createHash('sha256').update(base).digest('hex').slice(0, 16));
  const tmp = Buffer.concat([bytes.subarray(0, cut), Buffer.from('.'), short, Buffer.from(TMP_SUFFIX)]);
  return typeof dest === 'string' ? tmp.toString() : tmp;
}

/** Removes a leftover temporary entry (never a folder, never through a link: unlink only). */
export async function removeStale(p: FsPath): Promise<void> {
  const st = await lstatOrUndefined(p);
  if (st && !st.isDirectory()) await fs.unlink(p);
}

/** Creates a new, empty file of `size` bytes (a hole) at `p`; fails if anything is there. */
export async function createExclusive(p: FsPath, size: number): Promise<void> {
  const handle = await fs.open(
    p,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}

/** Opens a file we created, never through a symlink. */
export function openNoFollow(p: FsPath, flags: number): Promise<fs.FileHandle> {
  return fs.open(p, flags | O_NOFOLLOW);
}

export interface Meta {
  mode: number;
  mtimeNs: string;
  uid?: number;
  gid?: number;
}

/**
 * Owner (as root), mode, then times — through the open descriptor, so no link is followed.
 * `owner`: who owns the file already, when known (a file just created): no chown if it matches.
 */
export async function applyMetaToHandle(
  handle: fs.FileHandle,
  meta: Meta,
  owner?: { uid: number; gid: number },
  /** Runs between owner and mode (extended attributes: a chown clears security.capability, a read-only mode forbids them). */
  beforeMode?: () => Promise<void>,
): Promise<void> {
  if (
    IS_ROOT &&
    meta.uid !== undefined &&
    meta.gid !== undefined &&
    (owner === undefined || owner.uid !== meta.uid || owner.gid !== meta.gid)
  ) {
    await handle.chown(meta.uid, meta.gid);
  }
  await beforeMode?.();
  await handle.chmod(meta.mode);
  const t = utimeArg(meta.mtimeNs);
  await handle.utimes(t as unknown as number, t as unknown as number);
}

/** applyMetaToHandle on a plain descriptor, synchronously (the small-file fast path). */
export function applyMetaToFdSync(
  fd: number,
  meta: Meta,
  owner?: { uid: number; gid: number },
  beforeMode?: () => void,
): void {
  if (
    IS_ROOT &&
    meta.uid !== undefined &&
    meta.gid !== undefined &&
    (owner === undefined || owner.uid !== meta.uid || owner.gid !== meta.gid)
  ) {
    fchownSync(fd, meta.uid, meta.gid);
  }
  beforeMode?.();
  fchmodSync(fd, meta.mode);
  const t = utimeArg(meta.mtimeNs);
  futimesSync(fd, t as unknown as number, t as unknown as number);
}

/**
 * Sets a folder's metadata; the folder is opened with O_DIRECTORY|O_NOFOLLOW first.
 * Synchronous calls: a restore sets it once per folder, and four thread-pool round trips
 * cost more than the calls.
 */
export function applyDirMetaSync(dir: FsPath, meta: Meta, beforeMode?: () => void): void {
  if (!HAS_NOFOLLOW) {
    const st = lstatSync(dir);
    if (!st.isDirectory())
      throw Object.assign(new Error(`${dir} is no longer a folder`), { code: 'ENOTDIR' });
    beforeMode?.();
    chmodSync(dir, meta.mode);
    const t = utimeArg(meta.mtimeNs);
    utimesSync(dir, t as unknown as number, t as unknown as number);
    return;
  }
  const fd = openSync(dir, constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    applyMetaToFdSync(fd, meta, undefined, beforeMode);
  } finally {
    closeSync(fd);
  }
}

/** applyLinkMeta with synchronous calls. */
export function applyLinkMetaSync(link: FsPath, meta: Meta): void {
  if (IS_ROOT && meta.uid !== undefined && meta.gid !== undefined) lchownSync(link, meta.uid, meta.gid);
  const t = utimeArg(meta.mtimeNs);
  lutimesSync(link, t as unknown as number, t as unknown as number);
}

/** A symlink's owner and times: lchown/lutimes act on the link itself. */
export async function applyLinkMeta(link: FsPath, meta: Meta): Promise<void> {
  if (IS_ROOT && meta.uid !== undefined && meta.gid !== undefined) await fs.lchown(link, meta.uid, meta.gid);
  const t = utimeArg(meta.mtimeNs);
  await fs.lutimes(link, t as unknown as number, t as unknown as number);
}

/**
 * Makes a folder we are about to write into writable for us (an earlier restore may have
 * left it read-only); its final mode is set again at the end of the restore.
 */
export async function ensureWritable(dir: FsPath, st: BigIntStats): Promise<void> {
  if (IS_ROOT || process.platform === 'win32') return;
  const mode = Number(st.mode & 0o7777n);
  if ((mode & 0o700) === 0o700 && Number(st.uid) === process.getuid?.()) return;
  // lstat said it is a real folder: access() may follow the (non-)link.
  const usable = await fs.access(dir, constants.W_OK | constants.X_OK).then(
    () => true,
    () => false,
  );
  if (usable) return;
  if (!HAS_NOFOLLOW) return fs.chmod(dir, mode | 0o700);
  const handle = await fs.open(dir, constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    await handle.chmod(mode | 0o700);
  } finally {
    await handle.close();
  }
}
