import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import type { Tree, TreeNode } from '../repository/format.js';
import { PathPatterns } from '../scan/excludes.js';
import type { FoldersAhead } from './folders-ahead.js';
import type { PackPlan } from './pack-plan.js';
import type { FsPath } from './safe-fs.js';
import type { TreeSource } from './tree-reader.js';

export interface PlannedEntry {
  /** The backed-up absolute path (for messages and --include). */
  abs: string;
  /** Where it goes: under the target (bytes when a name on the way is not UTF-8). */
  dest: string | Buffer;
  node: TreeNode;
}

export interface Refusal {
  path: string;
  reason: string;
}

/** Why a name from a tree cannot be a file name under the target, or undefined when it can. */
export function unsafeName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'an empty name';
  if (name === '.' || name === '..') return `the name ${JSON.stringify(name)}`;
  if (name.includes('/')) return 'a name holding "/"';
  if (name.includes('\0')) return 'a name holding NUL';
  if (process.platform === 'win32' && name.includes('\\')) return 'a name holding "\\"';
  return undefined;
}

function unsafeBytes(raw: Buffer): string | undefined {
  if (raw.length === 0) return 'an empty name';
  if (raw.includes(0x2f)) return 'a name holding "/"';
  if (raw.includes(0)) return 'a name holding NUL';
  const s = raw.toString('latin1');
  if (s === '.' || s === '..') return `the name ${JSON.stringify(s)}`;
  return undefined;
}

/** `--include` patterns (the exclude rules, scan/excludes.ts): relative ones at any depth. */
export class IncludeRules {
  private readonly patterns: PathPatterns;
  constructor(include: string[] = []) {
    this.patterns = new PathPatterns(include);
  }
  /** No patterns: everything is restored. */
  get all(): boolean {
    return this.patterns.empty;
  }
  wanted(abs: string): boolean {
    return this.patterns.empty || this.patterns.matches(abs);
  }
}

/**
 * One folder's entries as restore sees them: names that could leave the target and second
 * entries of one name in the folder are refused (each named, through `refuse`), whatever the
 * snapshot says; the others come with their backed-up path and their place under the target.
 */
export function folderEntries(
  tree: Tree,
  abs: string,
  destDir: string | Buffer,
  refuse?: (refusal: Refusal) => void,
): PlannedEntry[] {
  const seen = new Set<string>();
  const out: PlannedEntry[] = [];
  for (const node of tree.nodes) {
    const childAbs = abs === '/' ? `/${node.name}` : `${abs}/${node.name}`;
    const raw = node.nameBytes === undefined ? undefined : Buffer.from(node.nameBytes, 'base64');
    const bad = unsafeName(node.name) ?? (raw ? unsafeBytes(raw) : undefined);
    if (bad) {
      refuse?.({
        path: `${abs === '/' ? '' : abs}/${JSON.stringify(node.name)}`,
        reason: `refused: the snapshot gives an entry ${bad}, which could write outside the target`,
      });
      continue;
    }
    if (seen.has(node.name)) {
      refuse?.({ path: childAbs, reason: 'refused: a second entry of the same name in one folder' });
      continue;
    }
    seen.add(node.name);
    if (node.type !== 'dir' && node.type !== 'file' && node.type !== 'symlink') {
      refuse?.({ path: childAbs, reason: `refused: unknown entry type ${JSON.stringify(node.type)}` });
      continue;
    }
    const name = raw ?? node.name;
    const dest =
      typeof destDir === 'string' && typeof name === 'string'
        ? joinName(destDir, name)
        : Buffer.concat([Buffer.from(destDir), Buffer.from(path.sep), Buffer.from(name)]);
    out.push({ abs: childAbs, dest, node });
  }
  return out;
}

/**
 * `path.join(dir, name)` for a name already checked (no separator, not `.` or `..`) and a
 * folder that is absolute and normalized (the target's real path, then names): the same
 * string without normalizing it again, one per entry of a snapshot.
 */
function joinName(dir: string, name: string): string {
  if (process.platform === 'win32' || !path.isAbsolute(dir)) return path.join(dir, name);
  return dir.endsWith(path.sep) ? dir + name : dir + path.sep + name;
}

export interface Totals {
  files: number;
  bytes: number;
}

/**
 * Counts the files (and their bytes) a restore of `treeId` at `abs` brings back, walking
 * depth first and holding only the trees on the current path: the totals progress shows.
 */
export async function countFiles(
  reader: TreeSource,
  treeId: string,
  abs: string,
  include: IncludeRules,
  included: boolean,
  /** Makes the folders to restore as it goes (restore/folders-ahead.ts), below `dest`. */
  ahead?: { folders: FoldersAhead; dest: FsPath },
  /** Learns which parts of which packs the files counted need (restore/pack-plan.ts). */
  packs?: PackPlan,
): Promise<Totals> {
  const totals: Totals = { files: 0, bytes: 0 };
  /** `dest`: where the folder at `at` is restored, when folders may be made in it. */
  const walk = async (tree: Promise<Tree>, at: string, inc: boolean, dest?: FsPath): Promise<void> => {
    let entries: PlannedEntry[];
    try {
      entries = folderEntries(await tree, at, dest ?? '');
    } catch (error) {
      // A damaged tree counts for nothing here; the restore names it when it gets there.
      if (isDamage(error)) return;
      throw error;
    }
    // The next subfolders' trees are read while this one's are walked (a few at a time,
    // in order): one tree after another, the walk waited on each one's download and
    // decompression in turn.
    const subtrees = entries.filter((e) => e.node.type === 'dir' && e.node.subtree !== undefined);
    const reads: Array<Promise<Tree>> = [];
    const readNext = () => {
      const next = subtrees[reads.length];
      if (next) reads.push(owned(reader.read(next.node.subtree!)));
    };
    for (let i = 0; i < TREES_AHEAD; i++) readNext();
    let taken = 0;
    for (const entry of entries) {
      const wanted = inc || include.wanted(entry.abs);
      if (entry.node.type === 'dir') {
        const made = ahead !== undefined && dest !== undefined && wanted && ahead.folders.make(entry.dest);
        if (entry.node.subtree) {
          const subtree = reads[taken]!;
          reads[taken++] = DONE;
          readNext();
          await walk(subtree, entry.abs, wanted, made ? entry.dest : undefined);
        }
      } else if (entry.node.type === 'file' && wanted) {
        totals.files++;
        totals.bytes += entry.node.size ?? 0;
        packs?.addFile(entry.node);
      }
    }
  };
  await walk(owned(reader.read(treeId)), abs, included, ahead?.dest);
  return totals;
}

/** Subfolders' trees the counting walk reads ahead of the one it walks, per level. */
const TREES_AHEAD = 4;
/** A read handed on: the walk awaits it, or drops it for good (the slot of a read taken). */
const DONE: Promise<Tree> = Promise.resolve({ nodes: [] });

/** A read that may be awaited later, or never (the walk stops at an error): owned here. */
function owned(read: Promise<Tree>): Promise<Tree> {
  read.catch(() => undefined);
  return read;
}

/** Damage to the repository's data (fails the entries that need it) vs. anything else (stops). */
export function isDamage(error: unknown): boolean {
  return (
    BackupctlError.is(error) &&
    (error.code === ErrorCodes.integrity || error.code === ErrorCodes.objectNotFound)
  );
}
