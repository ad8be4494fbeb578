import { constants, promises as fs, renameSync, symlinkSync } from 'node:fs';
import type { Repository } from '../repository/repository.js';
import { compareContents } from './compare.js';
import { createdOwner, type ReadyFolder } from './folder-owner.js';
import type { PlannedEntry } from './plan.js';
import {
  applyLinkMeta,
  applyLinkMetaSync,
  ensureWritable,
  type FsPath,
  lstatOrUndefined,
  openNoFollow,
  removeStale,
  tmpNameFor,
} from './safe-fs.js';
import { isRestoredTime } from './utime-precision.js';

/**
 * What to do with a file already in the target that differs from the snapshot:
 * `never` (default) leaves it and names it; `if-changed` replaces it when its contents
 * differ; `always` replaces whatever is there (never a folder, never through a link).
 */
export type OverwritePolicy = 'always' | 'if-changed' | 'never';
export const OVERWRITE_POLICIES: readonly OverwritePolicy[] = ['always', 'if-changed', 'never'];

/*
 * One entry's steps in the target: a folder made ours, what to do with a file, a hard link,
 * a symlink. None follows a symlink (see safe-fs.ts).
 */

/**
 * Makes `dest` a real folder of ours; returns it, or why it was left alone. In a folder this
 * restore just created (`parentFresh`) nothing can be there yet: it is created straight away.
 */
export async function ensureDir(
  dest: FsPath,
  overwrite: OverwritePolicy,
  parentFresh = false,
): Promise<ReadyFolder | string> {
  let st = parentFresh ? undefined : await lstatOrUndefined(dest);
  if (st && !st.isDirectory()) {
    if (overwrite === 'never') {
      return `${st.isSymbolicLink() ? 'a symlink' : 'a file'} is where the snapshot has a folder (--overwrite always or if-changed replaces it)`;
    }
    // Unlinking removes the link or file itself: nothing it points to.
    await fs.unlink(dest);
    st = undefined;
  }
  let fresh = false;
  if (!st) {
    await fs.mkdir(dest, { mode: 0o700 });
    st = await lstatOrUndefined(dest);
    if (!st?.isDirectory()) throw new Error(`${dest} changed while it was being created`);
    fresh = true;
  }
  await ensureWritable(dest, st);
  return { fresh, owner: createdOwner(st) };
}

export type Decision = 'write' | 'unchanged' | 'metadata' | { conflict: string };

/** What to do with a file given what is already at its place. */
export async function decide(
  repo: Repository,
  entry: PlannedEntry,
  overwrite: OverwritePolicy,
): Promise<Decision> {
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
    isRestoredTime(st.mtimeNs, BigInt(node.mtimeNs)) &&
    Number(st.mode & 0o7777n) === node.mode
  ) {
    return 'unchanged';
  }
  if (sameSize) {
    const handle = await openNoFollow(entry.dest, constants.O_RDONLY);
    let differs: string | undefined;
    try {
      differs = await compareContents(repo, handle, entry.node);
    } finally {
      await handle.close();
    }
    if (!differs) return 'metadata';
  }
  if (overwrite === 'if-changed') return 'write';
  return { conflict: 'a different file is already there (--overwrite if-changed or always replaces it)' };
}

/** Links `entry` to the restored `primary`, under a temporary name renamed into place. */
export async function restoreHardLink(
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

/**
 * restoreSymlink in a folder this restore created (so empty before it: nothing at the name,
 * nothing at the temporary name), with synchronous calls: symlink, owner and times, rename —
 * the same steps without the two lstat calls that find nothing and the thread-pool round
 * trips. Something at the temporary name after all (a snapshot entry of that name restored
 * first): the usual path, which replaces it.
 */
export function restoreSymlinkFresh(
  link: PlannedEntry,
  overwrite: OverwritePolicy,
): string | Promise<string> {
  const tmp = tmpNameFor(link.dest);
  try {
    symlinkSync(linkTarget(link), tmp);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return restoreSymlink(link, overwrite);
    throw error;
  }
  applyLinkMetaSync(tmp, link.node);
  renameSync(tmp, link.dest);
  return 'ok';
}

function linkTarget(link: PlannedEntry): Buffer {
  return link.node.targetBytes === undefined
    ? Buffer.from(link.node.target ?? '')
    : Buffer.from(link.node.targetBytes, 'base64');
}

export async function restoreSymlink(link: PlannedEntry, overwrite: OverwritePolicy): Promise<string> {
  const target = linkTarget(link);
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
