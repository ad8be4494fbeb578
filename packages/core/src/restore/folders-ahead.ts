import { lstatSync, mkdirSync } from 'node:fs';
import { createdOwner, type ReadyFolder } from './folder-owner.js';
import type { FsPath } from './safe-fs.js';

/** Folders created ahead at most; past that the walk creates the rest as it goes. */
export const DEFAULT_FOLDERS_AHEAD = 32_768;

/**
 * Creates a snapshot's folders before any of its files, during the counting walk, as
 * restic does. Measured on ext4 (docs/benchmarks.md, "Restore and ext4's inode
 * allocator"): a file's inode goes to its folder's block group while that group has free
 * inodes; created one folder at a time, a folder then its files, a restore packs its files
 * into the first groups with free inodes — those a tree deleted in the last 30 s just
 * freed, whose inodes ext4 (without a journal) skips one lookup each, on every create:
 * 100k files took 20–45 s of kernel time there. With every folder made first, the folders
 * fill their group and each folder's files are spread to a group of their own: 7 s.
 *
 * Safe as the walk is: a folder is made (mkdir, which never follows a link at the name it
 * creates) only inside the target or inside a folder made here, so no path through
 * something already in the target is used; anything already there (a folder of an earlier
 * restore, a file, a symlink) is left to the walk, which checks it as before, and nothing
 * is made below it. Made with mode 0700, like the walk's; the snapshot's mode is set
 * when the folder is complete. Bounded: at most `limit` folders are remembered.
 */
export class FoldersAhead {
  private readonly made = new Map<string, ReadyFolder['owner']>();
  /** Folders made here (for tests). */
  created = 0;

  constructor(private readonly limit = DEFAULT_FOLDERS_AHEAD) {}

  /**
   * Makes `dest`, whose parent is the target or a folder made here; true when it did (then
   * the walk may make its subfolders too).
   */
  make(dest: FsPath): boolean {
    if (this.made.size >= this.limit) return false;
    // Synchronous calls: the counting walk makes one folder after another, and two
    // thread-pool round trips per folder cost more than the calls (~0.3 s on the real tree).
    try {
      mkdirSync(dest, { mode: 0o700 });
    } catch {
      // Already there, or not possible: the walk finds out and says so, as before.
      return false;
    }
    const st = lstatSync(dest, { bigint: true, throwIfNoEntry: false });
    if (!st?.isDirectory()) return false;
    this.made.set(keyOf(dest), createdOwner(st));
    this.created++;
    return true;
  }

  /** The walk's folder `dest`, when made here: fresh (empty), once. */
  take(dest: FsPath): ReadyFolder | undefined {
    const key = keyOf(dest);
    if (!this.made.has(key)) return undefined;
    const owner = this.made.get(key);
    this.made.delete(key);
    return { fresh: true, owner };
  }
}

function keyOf(dest: FsPath): string {
  return typeof dest === 'string' ? dest : `\0${dest.toString('latin1')}`;
}
