import type { BigIntStats, Stats } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { Excluder } from './excludes.js';

/** The per-folder ignore file, with gitignore semantics (the `ignore` package). */
export const IGNORE_FILE = '.backupctlignore';
/** https://bford.info/cachedir/: a CACHEDIR.TAG starts with exactly this. */
export const CACHEDIR_TAG = 'CACHEDIR.TAG';
export const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

export interface WalkFilterOptions {
  /** `--exclude` patterns and the lines of every `--exclude-file` (restic's rules). */
  excludes?: string[];
  /** Skip folders holding a CACHEDIR.TAG with the standard signature. */
  excludeCaches?: boolean;
  /** Do not descend into other file systems than each root's. */
  oneFileSystem?: boolean;
  /** Read `.backupctlignore` files (default true). */
  ignoreFiles?: boolean;
}

export type ExcludeReason = 'pattern' | 'ignore-file' | 'cache-dir' | 'other-file-system';

/** What the filter reads of an lstat (Stats, BigIntStats, or the walker's ListedStat). */
type AnyStats = Pick<Stats, 'dev' | 'isDirectory'> | Pick<BigIntStats, 'dev' | 'isDirectory'>;

/**
 * What the walk leaves out, in one place, for push and its dry run alike. It is asked per
 * entry with the entry's lstat, after `enterDir` has run for its folder (which loads that
 * folder's `.backupctlignore`). Safe for folders walked concurrently: state is per folder.
 */
export class WalkFilter {
  private readonly excluder: Excluder;
  private readonly ignores = new Map<string, Promise<Ignore | undefined>>();
  /** The same, once read: what the walk asks without waiting. */
  private readonly loaded = new Map<string, Ignore | undefined>();
  /** Per folder: the rules of the folders from its root down to it that have any. */
  private readonly chains = new Map<string, Array<[string, Ignore]>>();
  private readonly rootDevices = new Map<string, bigint>();

  constructor(
    private readonly roots: readonly string[],
    private readonly options: WalkFilterOptions = {},
  ) {
    this.excluder = new Excluder(options.excludes ?? []);
  }

  /**
   * Loads the folder's ignore file (once); call before asking about its entries.
   * `hasIgnoreFile`: what the caller's listing of the folder says (false spares a read
   * that fails, which costs more than the lstat of a file).
   */
  enterDir(dir: string, hasIgnoreFile?: boolean): Promise<Ignore | undefined> {
    let loading = this.ignores.get(dir);
    if (!loading) {
      loading =
        this.options.ignoreFiles === false || hasIgnoreFile === false
          ? Promise.resolve(undefined)
          : fs.readFile(path.join(dir, IGNORE_FILE), 'utf8').then(
              (text) => ignore().add(text),
              () => undefined,
            );
      this.ignores.set(dir, loading);
      void loading.then((rules) => {
        if (this.ignores.get(dir) === loading) this.loaded.set(dir, rules);
      });
    }
    return loading;
  }

  /**
   * Forgets a folder the walk is done with (a walk never comes back to it), so what this
   * filter holds grows with the depth of the walk, not with the number of folders.
   */
  leaveDir(dir: string): void {
    this.ignores.delete(dir);
    this.loaded.delete(dir);
    this.chains.delete(dir);
  }

  /** Whether the patterns alone leave `file` out (no stat needed). */
  excludedByPattern(file: string): boolean {
    return !this.roots.includes(file) && this.excluder.excludes(file);
  }

  /** Why `file` is left out, or undefined when it is backed up. Roots are never left out. */
  async excludes(file: string, stat: AnyStats): Promise<ExcludeReason | undefined> {
    if (!this.roots.includes(file) && this.options.ignoreFiles !== false) {
      const root = this.rootOf(file);
      if (root !== undefined) for (const dir of chainOf(file, root)) await this.enterDir(dir);
    }
    return this.check(file, stat);
  }

  /**
   * The same answer as `excludes`, at once when it can be had without I/O (the walk's
   * case: it has entered every folder above `file`), else a promise of it.
   */
  check(file: string, stat: AnyStats): ExcludeReason | undefined | Promise<ExcludeReason | undefined> {
    if (this.roots.includes(file)) {
      if (this.options.oneFileSystem) this.rootDevices.set(file, BigInt(stat.dev));
      return undefined;
    }
    if (this.excluder.excludes(file)) return 'pattern';
    const isDir = stat.isDirectory();
    const ignored = this.ignoredByFile(file, isDir);
    if (ignored instanceof Promise) {
      return ignored.then((yes) => (yes ? 'ignore-file' : this.checkRest(file, stat, isDir)));
    }
    if (ignored) return 'ignore-file';
    return this.checkRest(file, stat, isDir);
  }

  private checkRest(
    file: string,
    stat: AnyStats,
    isDir: boolean,
  ): ExcludeReason | undefined | Promise<ExcludeReason | undefined> {
    if (this.options.oneFileSystem) {
      const root = this.rootOf(file);
      const dev = root === undefined ? undefined : this.rootDevices.get(root);
      if (dev !== undefined && BigInt(stat.dev) !== dev) return 'other-file-system';
    }
    if (isDir && this.options.excludeCaches) {
      return isCacheDir(file).then((yes) => (yes ? 'cache-dir' : undefined));
    }
    return undefined;
  }

  /** gitignore rules of every folder from the root down to `file`'s parent. */
  private ignoredByFile(file: string, isDir: boolean): boolean | Promise<boolean> {
    if (this.options.ignoreFiles === false) return false;
    const parent = path.dirname(file);
    let chain = this.chains.get(parent);
    if (!chain) {
      const root = this.rootOf(file);
      if (root === undefined) return false;
      const dirs = chainOf(file, root);
      if (dirs.some((dir) => !this.loaded.has(dir))) {
        return Promise.all(dirs.map((dir) => this.enterDir(dir))).then(() => this.ignoredByFile(file, isDir));
      }
      chain = [];
      for (const dir of dirs) {
        const rules = this.loaded.get(dir);
        if (rules) chain.push([dir, rules]);
      }
      this.chains.set(parent, chain);
    }
    for (const [dir, rules] of chain) {
      const relative = path.relative(dir, file).split(path.sep).join('/');
      if (rules.ignores(isDir ? `${relative}/` : relative)) return true;
    }
    return false;
  }

  private rootOf(file: string): string | undefined {
    let best: string | undefined;
    for (const root of this.roots) {
      if ((root === '/' || file.startsWith(`${root}/`)) && (!best || root.length > best.length)) best = root;
    }
    return best;
  }
}

/** The folders from `root` down to `file`'s parent, outermost first. */
function chainOf(file: string, root: string): string[] {
  const chain: string[] = [];
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    chain.push(dir);
    if (dir === root || dir === path.dirname(dir)) break;
  }
  return chain.reverse();
}

async function isCacheDir(dir: string): Promise<boolean> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path.join(dir, CACHEDIR_TAG), 'r');
    const buffer = Buffer.alloc(CACHEDIR_SIGNATURE.length);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return bytesRead === buffer.length && buffer.toString('latin1') === CACHEDIR_SIGNATURE;
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}
