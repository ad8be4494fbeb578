import {
  type BigIntStats,
  createReadStream,
  promises as fs,
  constants as fsConstants,
  lstatSync,
  readlinkSync,
} from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import pLimit from 'p-limit';
import { FileCache, type FileFingerprint } from '../cache/file-cache.js';
import type { RepoCache } from '../cache/repo-cache.js';
import { ChunkPool } from '../chunk/chunk-pool.js';
import { FastCdcChunker } from '../chunk/fastcdc.js';
import { errorMessage } from '../errors/index.js';
import { keys, type Snapshot, type SnapshotSummary, type TreeNode } from '../repository/format.js';
import { saveIndex } from '../repository/index-sync.js';
import { PACK_STAGING_DIR, PackWriter } from '../repository/pack.js';
import type { Repository } from '../repository/repository.js';
import { DirLister } from '../scan/dir-lister.js';
import {
  childPath,
  type EntryStat,
  ListedStat,
  type Listing,
  listedStat,
  listingError,
  nameOf,
  STAT_FIELDS,
} from '../scan/dir-listing.js';
import { VirtualFsDetector } from '../scan/virtual-fs.js';
import { type ExcludeReason, IGNORE_FILE, WalkFilter } from '../scan/walk-filter.js';
import { TaskGroup } from '../util/task-group.js';
import { dirNodeJson, entryMetadata, fileNodeJson, nodeJsonHead, targetFields } from './entry-metadata.js';
import { isFileReadError, readSmallFile } from './read-file.js';
import { SmallFileBatcher } from './small-file-batcher.js';
import type { PushEvents, PushOptions, PushProgress, PushResult, PushWarning } from './types.js';
import {
  listXattrs,
  readXattrs,
  type XattrEntry,
  type XattrModule,
  xattrModuleSync,
  xattrValues,
} from './xattrs.js';

/** Files up to this size are read in one call; larger ones are streamed. */
const WHOLE_READ_LIMIT = 1024 * 1024;
const STREAM_BUFFER = 1024 * 1024;
/** Chunks of one file in flight in the main thread (when no worker runs: tests from src/). */
const CHUNKS_IN_FLIGHT = 4;
/** Chunks of a large file a worker may have told before they are dropped or packed (bounds memory). */
const WORKER_CREDITS = 4;
/**
 * An index file is written once this many blobs are in uploaded packs: what the push holds
 * for its index, and the size of each index file, stay bounded whatever the file count.
 * Until then every blob is an entry object and an id string on the main thread's heap, and
 * writing the file makes its JSON text, bytes, compressed and sealed copies at once.
 * The first waits for FIRST_INDEX_FILE_BLOBS: most pushes stay under it and write their one
 * index file at the end, once the chunk workers are gone (written during the walk, on top of
 * the workers' buffers, one raised the real tree's peak by ~10–15 MiB); a larger push then
 * writes one every INDEX_FILE_BLOBS, which took a million-file push's peak ~40 MiB lower
 * than one every 50,000 (docs/benchmarks.md, "Push memory, 2026-12-02"). A pack of small
 * files holds ~15,000 blobs: about one index file per pack of them, one PUT each.
 */
const FIRST_INDEX_FILE_BLOBS = 50_000;
const INDEX_FILE_BLOBS = 10_000;
/**
 * Files handed to the readers and not done yet, across the whole walk: beyond it the walk
 * waits. With the walk itself sequential, this (and the depth of the tree) bounds what a
 * push holds, whatever the number of files or folders.
 */
const FILES_QUEUED = 256;
/** The walk runs without waiting between most entries; it lets I/O run at least this often. */
const YIELD_MS = 20;
/**
 * Sub-folders are handed to the walker thread while the folders walked lately hold this
 * many names or more on average: below it, handing them over (a message, a thread woken)
 * costs more than listing them here. (A laptop's documents: ~100 a folder; /usr/lib/python3: ~15.)
 */
const AHEAD_MIN_NAMES = 48;
// (Counted as entries other than folders: see walkDir.)

/** A tree node as JSON, or one on its way (a file being read, a folder being finished). */
type Part = string | Promise<string | undefined>;

/** What the filter said of a sub-folder when its parent was listed (reused when the walk reaches it). */
type Verdict = ExcludeReason | undefined | Promise<ExcludeReason | undefined>;

const { S_IFMT, S_IFDIR } = fsConstants;

/**
 * Walks the chosen paths and stores them: files (through the chunk workers: large ones one
 * by one, small ones in batches, small-file-batcher.ts),
 * trees, then the index and the snapshot. One instance per push.
 */
export class Archiver {
  private filter!: WalkFilter;
  private readonly packer: PackWriter;
  private readonly treePacker: PackWriter;
  /** New or changed files on their way (at most FILES_QUEUED): owns each one. */
  private readonly files = new TaskGroup(FILES_QUEUED);
  /** Of those, the ones being read at once (`fileConcurrency`). */
  private readonly readSlots: ReturnType<typeof pLimit>;
  private filesQueued = 0;
  private fileFreed: (() => void) | undefined;
  /** Folders whose entries are all walked, waiting for their last parts, then stored. */
  private readonly trees = new TaskGroup();
  private lastYield = Date.now();
  /** Names per folder, of the folders walked lately (a moving average): see AHEAD_MIN_NAMES. */
  private namesPerFolder = 0;
  private readonly virtualFs = new VirtualFsDetector();
  /** The xattr module (loaded once, synchronously), or undefined where there is none. */
  private readonly xattrMod: XattrModule | undefined = xattrModuleSync();
  private fileCache: FileCache | undefined;
  private pool: ChunkPool | undefined;
  /** Small files go to the workers in batches (small-file-batcher.ts). */
  private batcher: SmallFileBatcher | undefined;
  private readonly warnings: PushWarning[] = [];
  private readonly progress: PushProgress = {
    filesDone: 0,
    bytesDone: 0,
    filesTotal: 0,
    bytesTotal: 0,
    scanDone: false,
    filesUnchanged: 0,
    bytesUnchanged: 0,
    bytesUploaded: 0,
  };
  private readonly summary: SnapshotSummary = {
    files: 0,
    dirs: 0,
    bytes: 0,
    newBytes: 0,
    newBlobs: 0,
    packsWritten: 0,
    bytesUploaded: 0,
    skipped: 0,
    special: 0,
  };

  /** Folder listings with their entries' lstat, made by the walker thread ahead of the walk. */
  private readonly lister: DirLister;
  private readonly ownLister: boolean;

  constructor(
    private readonly repo: Repository,
    private readonly cache: RepoCache,
    private readonly options: PushOptions,
    private readonly events: PushEvents,
    lister?: DirLister,
  ) {
    this.ownLister = lister === undefined;
    this.lister = lister ?? DirLister.start({ worker: Boolean(options.walkerThread) });
    this.readSlots = pLimit(options.fileConcurrency ?? 8);
    const onPackUploaded = (pack: { size: number }) => {
      this.progress.bytesUploaded += pack.size;
      this.report();
      this.maybeSaveIndex();
    };
    // Packs are written to temporary files as they fill (a local repository's own `.tmp/`;
    // for S3 this cache folder, cleared of a killed push's leftovers by the next push).
    const scratchDir = cache.file(PACK_STAGING_DIR);
    this.packer = new PackWriter(
      repo,
      options.uploadConcurrency ?? repo.backend.writeConcurrency ?? 2,
      { onPackUploaded },
      { scratchDir },
    );
    // Trees go to packs of their own (as restic does): restore and check then fetch all of
    // a snapshot's trees with a few GETs instead of one ranged GET per folder.
    // One upload: a tree pack fills rarely (~170 B a file).
    this.treePacker = new PackWriter(repo, 1, { onPackUploaded }, { scratchDir });
  }

  async run(roots: string[]): Promise<Omit<PushResult, 'recoveredPacks' | 'durationMs'>> {
    // What the walk leaves out lives in scan/ (shared with push --dry-run).
    this.filter = new WalkFilter(roots, this.options);
    try {
      return await this.runWithPool(roots);
    } finally {
      this.fileCache?.discard();
      if (this.ownLister) await this.lister.close();
    }
  }

  private async runWithPool(roots: string[]): Promise<Omit<PushResult, 'recoveredPacks' | 'durationMs'>> {
    try {
      return await this.archive(roots);
    } catch (error) {
      // No temporary pack file outlives a failed push.
      await Promise.all([this.packer.abandon(), this.treePacker.abandon()]);
      throw error;
    } finally {
      await this.stopWorkers();
    }
  }

  /** Stops the chunk workers, once; a file read after that is read on this thread. */
  private async stopWorkers(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.batcher = undefined;
    this.poolChecked = true;
    await pool?.close();
  }

  private poolChecked = false;

  /**
   * The chunk workers (and the small-file batcher), started for the first file to read:
   * an unchanged re-push starts none (two idle workers are ~20 MB of resident memory).
   */
  private workers(): ChunkPool | undefined {
    if (this.poolChecked) return this.pool;
    this.poolChecked = true;
    if (!ChunkPool.available()) return undefined;
    this.pool = new ChunkPool({
      seed: this.repo.master.chunkerSeed,
      idKey: this.repo.master.id,
      params: this.repo.config.chunker,
      credits: WORKER_CREDITS,
      encKey: this.repo.master.encryption,
      compression: this.repo.compression,
      // The workers list each small file's xattr names: the main thread then asks only
      // for the values of the few files that have some.
      xattrs: this.xattrMod !== undefined,
    });
    this.batcher = new SmallFileBatcher(this.pool, this.packer, {
      onNewBlob: (raw) => {
        this.summary.newBytes += raw;
        this.summary.newBlobs++;
      },
      onBytes: (bytes) => {
        this.progress.bytesDone += bytes;
      },
    });
    return this.pool;
  }

  private async archive(roots: string[]): Promise<Omit<PushResult, 'recoveredPacks' | 'durationMs'>> {
    this.fileCache = await FileCache.load(this.cache.file('files.bin'), roots);
    const scan =
      (this.options.scanTotals ?? this.events.onProgress !== undefined)
        ? this.scanTotals(roots)
        : Promise.resolve();
    let rootTree: string;
    try {
      rootTree = await this.archiveSelection('/', roots);
    } catch (error) {
      // The scan never rejects (it skips what it cannot read), but it is owned all the same.
      scan.catch(() => undefined);
      // Nothing of a failed push runs on after it: every started read and tree settles.
      await this.files.wait().catch(() => undefined);
      await this.trees.wait().catch(() => undefined);
      throw error;
    }
    // Every file is read and sealed (the root tree names them all): the chunk workers, their
    // pooled buffers and zstd instances (~45 MiB each at the end of a first push) are freed
    // before the last packs, the index and the file cache are written, the push's peak.
    await this.stopWorkers();
    await scan;
    // One after the other: after an explicit deny on the data pack, no tree pack follows.
    await this.packer.flush();
    await this.treePacker.flush();
    await this.indexSaving;
    await saveIndex(this.repo, this.cache, [...this.packer.takeWritten(), ...this.treePacker.takeWritten()]);
    this.summary.packsWritten = this.packer.packsWritten + this.treePacker.packsWritten;
    this.summary.bytesUploaded = this.packer.bytesUploaded + this.treePacker.bytesUploaded;
    this.lastReport = 0;
    this.report();
    const snapshot: Snapshot = {
      version: this.repo.config.version,
      time: new Date().toISOString(),
      host: this.options.host,
      paths: roots,
      tags: this.options.tags ?? [],
      tree: rootTree,
      summary: this.summary,
    };
    const { id: snapshotId, sealed } = await this.repo.saveJson('snapshots/', snapshot);
    // The commit point is behind us: nothing local may turn a saved snapshot into a failure.
    const cacheWarnings: string[] = [];
    await this.cache.write(keys.snapshot(snapshotId), sealed);
    try {
      await this.fileCache!.save();
    } catch (error) {
      cacheWarnings.push(
        `the file cache could not be saved (${errorMessage(error)}): the next push reads every file again`,
      );
    }
    return { snapshotId, snapshot, warnings: this.warnings, cacheWarnings };
  }

  private lastReport = 0;
  private indexSaving: Promise<unknown> = Promise.resolve();
  /** Index files maybeSaveIndex started (the first waits for more blobs). */
  private indexFilesSaved = 0;

  /** Writes an index file for the packs uploaded so far once they hold enough blobs. */
  private maybeSaveIndex(): void {
    const limit = this.indexFilesSaved === 0 ? FIRST_INDEX_FILE_BLOBS : INDEX_FILE_BLOBS;
    if (this.packer.untakenBlobs + this.treePacker.untakenBlobs < limit) return;
    this.indexFilesSaved++;
    const packs = [...this.packer.takeWritten(), ...this.treePacker.takeWritten()];
    // Chained, so the final save waits for it; a failure surfaces there (promise owned).
    // Once saved, the repository's index knows those blobs: the packers forget them.
    this.indexSaving = this.indexSaving.then(async () => {
      await saveIndex(this.repo, this.cache, packs);
      this.packer.indexed(packs);
      this.treePacker.indexed(packs);
    });
    this.indexSaving.catch(() => {});
  }

  /** At most ten progress events a second: per-file events cost more than small files. */
  private report(currentPath?: string): void {
    if (!this.events.onProgress) return;
    const now = Date.now();
    if (now - this.lastReport < 100) return;
    this.lastReport = now;
    if (currentPath) this.progress.currentPath = currentPath;
    this.events.onProgress({ ...this.progress });
  }

  private warn(file: string, error: unknown): void {
    const warning = { path: file, message: errorMessage(error) };
    this.warnings.push(warning);
    this.summary.skipped++;
    this.events.onWarning?.(warning);
  }

  /**
   * Counts files and bytes ahead of the archiver, for the progress bar's ETA. Its own
   * filter (the archiver's forgets each folder once walked); one folder's entries stat'ed
   * without waiting, then a turn of the event loop, so it never holds the walk up.
   */
  private async scanTotals(roots: string[]): Promise<void> {
    const filter = new WalkFilter(roots, this.options);
    const walk = async (p: string, stat: BigIntStats): Promise<void> => {
      let excluded = filter.check(p, stat);
      if (excluded instanceof Promise) excluded = await excluded;
      if (excluded) return;
      let virtual = this.virtualFs.kindOfNow(p, stat.dev);
      if (virtual instanceof Promise) virtual = await virtual;
      if (virtual) return;
      if (stat.isFile()) {
        this.progress.filesTotal++;
        this.progress.bytesTotal += Number(stat.size);
      } else if (stat.isDirectory()) {
        let names: string[] = [];
        try {
          names = await fs.readdir(p);
        } catch {
          return;
        }
        await filter.enterDir(p, names.includes(IGNORE_FILE));
        const stats: Array<[string, BigIntStats]> = [];
        for (const [i, name] of names.entries()) {
          if ((i & 1023) === 1023) await nextTurn();
          const child = path.join(p, name);
          const s = lstatSync(child, { bigint: true, throwIfNoEntry: false });
          if (s) stats.push([child, s]);
        }
        for (const [child, s] of stats) await walk(child, s);
        filter.leaveDir(p);
      }
    };
    for (const root of roots) {
      const stat = lstatSync(root, { bigint: true, throwIfNoEntry: false });
      if (stat) await walk(root, stat);
    }
    this.progress.scanDone = true;
  }

  /**
   * The tree of `dir` holding only the chosen `roots` below it: folders between '/' and a
   * root are stored with their own metadata but only the entries leading to roots.
   */
  private async archiveSelection(dir: string, roots: string[]): Promise<string> {
    const children = new Map<string, string[]>();
    for (const root of roots) {
      const rest = path.relative(dir, root);
      const [first] = rest.split(path.sep);
      if (!first) continue;
      const list = children.get(first) ?? [];
      list.push(root);
      children.set(first, list);
    }
    const tree = new TreeBuilder();
    for (const [name, under] of [...children].sort(([a], [b]) => compareNames(a, b))) {
      const child = path.join(dir, name);
      if (under.includes(child)) {
        const entry = await this.walkEntry(child, child, name, true);
        if (entry !== undefined) tree.add(entry.part);
      } else {
        const stat = await fs.lstat(child, { bigint: true });
        const subtree = await this.archiveSelection(child, under);
        tree.add(JSON.stringify({ ...metadata(name, 'dir', stat), ...(await readXattrs(child)), subtree }));
      }
    }
    return this.storeTree(await tree.finish());
  }

  /**
   * Walks one folder, in name order, one entry after the other (restic's archiver walks
   * the same way): what is unchanged is answered at once from the file cache; a file to
   * read goes to the readers, and the walk moves on while it is read. Returns, once every
   * entry is walked, the promise of the folder's tree id (stored when its last part is in).
   * `aheadId`: the folder was handed to the walker thread to list ahead (DirLister.ahead).
   */
  private async walkDir(
    dir: string | Buffer,
    shown: string,
    aheadId: number | undefined,
    nlink: number,
  ): Promise<{ id: Promise<string> }> {
    // Names as bytes, held as latin1 text (one character per byte, lossless and compact:
    // a folder may hold a million names), sorted, each with its lstat: listed by the walker
    // thread ahead of the walk (then the main thread makes no syscall per unchanged file),
    // or here when the walker has not got to it yet.
    // A name that is not valid UTF-8 is kept, not lost.
    const listing = this.lister.take(dir, aheadId);
    if (listing.error) this.warn(shown, listingError(listing.error));
    const raw = listing.names;
    await this.filter.enterDir(shown, raw.includes(IGNORE_FILE));
    // A folder's link count is 2 + its sub-folders where the file system keeps it so (ext4,
    // xfs; btrfs says 1): what is left are its files, the walker's work worth handing over.
    const files = nlink >= 2 ? Math.max(0, raw.length - (nlink - 2)) : raw.length;
    this.namesPerFolder = this.namesPerFolder * 0.9 + files * 0.1;
    const ahead =
      this.lister.threaded &&
      listing.lazyDir === undefined &&
      (this.namesPerFolder >= AHEAD_MIN_NAMES || this.options.walkerThread === 'always')
        ? this.listAhead(dir, listing)
        : undefined;
    const tree = new TreeBuilder();
    for (let i = 0; i < raw.length; i++) {
      if (this.files.failed || this.trees.failed) await this.stopIfFailed();
      if ((i & 255) === 255 && Date.now() - this.lastYield > YIELD_MS) {
        await nextTurn();
        this.lastYield = Date.now();
      }
      const name = nameOf(raw[i]!);
      const file = childPath(dir, name);
      const entry = await this.walkEntry(
        file,
        typeof file === 'string' ? file : file.toString(),
        name,
        false,
        listedStat(listing, i),
        ahead?.get(i),
      );
      if (entry !== undefined) tree.add(entry.part);
    }
    this.filter.leaveDir(shown);
    this.lastYield = Date.now();
    // Wrapped: an async function returning the promise itself would wait for it.
    return { id: this.trees.spawn(async () => this.storeTree(await tree.finish())) };
  }

  /**
   * The sub-folders of a listed folder that the walk will enter, handed to the walker
   * thread in walk order. The filter's verdict on each is taken now (the same answer as
   * when the walk reaches it: this folder's rules are loaded, and nothing else it reads
   * changes) and kept for then, so nothing is asked twice (a CACHEDIR.TAG read once). A
   * folder the filter leaves out, or on a kernel file system, is never listed.
   */
  private listAhead(dir: string | Buffer, listing: Listing): Map<number, { verdict: Verdict; id?: number }> {
    const found = new Map<number, { verdict: Verdict; id?: number }>();
    const { names, stats, failures } = listing;
    const dirs: Array<string | Buffer> = [];
    const at: number[] = [];
    for (let i = 0; i < names.length; i++) {
      if ((Number(stats[i * STAT_FIELDS + 2]!) & S_IFMT) !== S_IFDIR || failures?.[i] !== undefined) continue;
      const file = childPath(dir, nameOf(names[i]!));
      const shown = typeof file === 'string' ? file : file.toString();
      const stat = new ListedStat(stats, i * STAT_FIELDS);
      const verdict = this.filter.check(shown, stat);
      found.set(i, { verdict });
      if (verdict !== undefined) continue; // left out, or not known yet (a promise)
      if (this.virtualFs.kindOfNow(shown, stat.dev) !== undefined) continue;
      dirs.push(file);
      at.push(i);
    }
    const ids = this.lister.ahead(dirs);
    if (ids) for (let k = 0; k < ids.length; k++) found.get(at[k]!)!.id = ids[k];
    return found;
  }

  /**
   * One entry: its node as JSON, the promise of it (a file to read, a folder), or undefined
   * when it is left out. `shown` is the path as text (a lossy copy for a name that is not
   * UTF-8): the filter, the file cache, warnings and progress know paths so.
   */
  private async walkEntry(
    file: string | Buffer,
    shown: string,
    name: string | Buffer,
    isRoot: boolean,
    listed?: EntryStat | Error,
    ahead?: { verdict: Verdict; id?: number },
  ): Promise<{ part: Part } | undefined> {
    let stat: EntryStat;
    try {
      if (listed instanceof Error) throw listed;
      stat = listed ?? lstatSync(file, { bigint: true });
    } catch (error) {
      if (!isRoot && this.filter.excludedByPattern(shown)) return undefined;
      this.warn(shown, error);
      return undefined;
    }
    // For a root: never left out, but it records the root's file system.
    let excluded = ahead ? ahead.verdict : this.filter.check(shown, stat);
    if (excluded instanceof Promise) excluded = await excluded;
    if (excluded && !isRoot) return undefined;
    let virtual = this.virtualFs.kindOfNow(shown, stat.dev);
    if (virtual instanceof Promise) virtual = await virtual;
    if (virtual) {
      // /proc, /sys and the like: nothing to back up, and reads that may never end.
      this.summary.special++;
      if (isRoot) {
        this.warnings.push({
          path: shown,
          message: `skipped: it is on ${virtual}, a kernel file system (no data to back up)`,
        });
        this.events.onWarning?.(this.warnings.at(-1)!);
      }
      return undefined;
    }
    if (stat.isDirectory()) {
      this.summary.dirs++;
      const names = listXattrs(this.xattrMod, file);
      const xattrs = names?.length
        ? (await xattrValues(this.xattrMod!, file as string, names)).xattrs
        : undefined;
      const head = nodeJsonHead(name, 'dir', stat, xattrs);
      const subtree = await this.walkDir(file, shown, ahead?.id, Number(stat.nlink));
      return { part: subtree.id.then((id) => dirNodeJson(head, id)) };
    }
    if (stat.isSymbolicLink()) {
      try {
        const target = readlinkSync(file, { encoding: 'buffer' });
        return { part: JSON.stringify({ ...metadata(name, 'symlink', stat), ...targetFields(target) }) };
      } catch (error) {
        this.warn(shown, error);
        return undefined;
      }
    }
    if (stat.isFile()) {
      const fingerprint: FileFingerprint = {
        size: Number(stat.size),
        mtimeNs: stat.mtimeNs,
        ctimeNs: stat.ctimeNs,
        ino: stat.ino,
      };
      const chunks = this.fileCache!.lookup(shown, fingerprint);
      if (chunks && this.allKnown(chunks)) {
        const size = fingerprint.size;
        this.progress.bytesDone += size;
        this.progress.bytesUnchanged += size;
        this.progress.filesUnchanged++;
        // Unchanged (ctime included) and without xattrs when recorded: it has none now.
        let xattrs: XattrEntry[] | undefined;
        let noXattrs = this.fileCache!.hitHadNoXattrs;
        if (!noXattrs) {
          const names = listXattrs(this.xattrMod, file);
          noXattrs = names?.length === 0;
          if (names?.length) xattrs = (await xattrValues(this.xattrMod!, file as string, names)).xattrs;
        }
        // The file cache passes its record on as it is (else it encodes it again).
        if (!this.fileCache!.recordHit(shown, noXattrs))
          this.fileCache!.record(shown, fingerprint, chunks, noXattrs);
        this.counted(shown, size);
        return { part: fileNodeJson(name, stat, xattrs, size, chunks) };
      }
      await this.fileSlot();
      this.filesQueued++;
      const read = this.files.spawn(() => this.archiveFile(file, shown, name, stat, fingerprint));
      read.then(this.releaseFile, this.releaseFile);
      return { part: read };
    }
    // Sockets, FIFOs and devices hold no data to back up: skipped without a warning (as
    // restic), so a home folder holding a socket does not make every push "partial".
    this.summary.special++;
    return undefined;
  }

  /** Waits until fewer than FILES_QUEUED files are on their way (the walk is the only caller). */
  private async fileSlot(): Promise<void> {
    while (this.filesQueued >= FILES_QUEUED) {
      await new Promise<void>((resolve) => {
        this.fileFreed = resolve;
      });
    }
    await this.stopIfFailed();
  }

  /** After a failure (storage, a bug: not an unreadable file) the walk starts nothing more. */
  private async stopIfFailed(): Promise<void> {
    if (this.files.failed) await this.files.wait(); // throws the first failure
    if (this.trees.failed) await this.trees.wait();
  }

  private readonly releaseFile = (): void => {
    this.filesQueued--;
    const freed = this.fileFreed;
    this.fileFreed = undefined;
    freed?.();
  };

  private allKnown(chunks: string[]): boolean {
    for (let i = 0; i < chunks.length; i++) if (!this.packer.knows(chunks[i]!)) return false;
    return true;
  }

  private fileDone(
    file: string,
    fingerprint: FileFingerprint,
    chunks: string[],
    size: number,
    noXattrs: boolean,
  ): void {
    this.fileCache!.record(file, fingerprint, chunks, noXattrs);
    this.counted(file, size);
  }

  private counted(file: string, size: number): void {
    this.summary.files++;
    this.summary.bytes += size;
    this.progress.filesDone++;
    this.report(file);
  }

  /** A new or changed file: read, chunked and stored; its node as JSON. */
  private async archiveFile(
    source: string | Buffer,
    file: string,
    name: string | Buffer,
    stat: EntryStat,
    fingerprint: FileFingerprint,
  ): Promise<string | undefined> {
    let chunks: string[];
    let size: number;
    /** What a chunk worker saw of the file's xattr names: none (false), some, or not looked. */
    let hasXattrs: boolean | undefined;
    try {
      // Large files are read one per slot, in a worker; small ones go to the workers in
      // batches (bounded by the batcher and by FILES_QUEUED, not by the slots: batches
      // need more files than that in flight); without workers, on the main thread.
      const pool = this.workers();
      ({ chunks, size, hasXattrs } =
        pool && fingerprint.size > WHOLE_READ_LIMIT
          ? await this.readSlots(() => this.readInWorker(pool, source))
          : this.batcher
            ? await this.batcher.store(source, fingerprint.size)
            : await this.readSlots(() => this.readAndStore(source, fingerprint.size)));
    } catch (error) {
      // A file we cannot read is skipped (exit code 3); anything else — storage,
      // quarantine, a bug — stops the push.
      if (!isFileReadError(error)) throw error;
      this.warn(file, error);
      return undefined;
    }
    let xattrs: XattrEntry[] | undefined;
    let noXattrs = hasXattrs === false;
    if (!noXattrs) {
      const names = listXattrs(this.xattrMod, source);
      noXattrs = names?.length === 0;
      if (names?.length) xattrs = (await xattrValues(this.xattrMod!, source as string, names)).xattrs;
    }
    this.fileDone(file, fingerprint, chunks, size, noXattrs);
    return fileNodeJson(name, stat, xattrs, size, chunks);
  }

  private async readInWorker(
    pool: ChunkPool,
    file: string | Buffer,
  ): Promise<{ chunks: string[]; size: number; hasXattrs?: boolean }> {
    const ids: string[] = [];
    const { size } = await pool.chunkFile(file, {
      onId: (chunk) => {
        ids[chunk.index] = chunk.id;
        this.progress.bytesDone += chunk.length;
        // Sealed (in the worker) only when the repository lacks it: an edited file is mostly known.
        return this.packer.claim(chunk.id);
      },
      onSealed: async (chunk) => {
        await this.packer.place(ids[chunk.index]!, 'data', chunk.sealed, chunk.rawLength, chunk.compressed);
        this.summary.newBytes += chunk.rawLength;
        this.summary.newBlobs++;
      },
    });
    return { chunks: ids, size };
  }

  private async readAndStore(
    file: string | Buffer,
    expectedSize: number,
  ): Promise<{ chunks: string[]; size: number; hasXattrs?: boolean }> {
    const chunker = new FastCdcChunker(this.repo.master.chunkerSeed, this.repo.config.chunker);
    const ids: Promise<string>[] = [];
    const group = new TaskGroup();
    let size = 0;
    const store = async (chunk: Buffer): Promise<string> => {
      const id = await this.repo.blobId(chunk);
      const added = await this.packer.add(id, 'data', chunk);
      if (added > 0) {
        this.summary.newBytes += added;
        this.summary.newBlobs++;
      }
      this.progress.bytesDone += chunk.length;
      return id;
    };
    const take = async (chunk: Buffer) => {
      size += chunk.length;
      ids.push(group.spawn(() => store(chunk)));
      // Keep a few chunks in flight; wait for the oldest beyond that (bounded memory).
      if (ids.length > CHUNKS_IN_FLIGHT) await ids[ids.length - 1 - CHUNKS_IN_FLIGHT];
    };
    try {
      if (expectedSize <= WHOLE_READ_LIMIT) {
        const data = await readSmallFile(file, expectedSize);
        for (const chunk of chunker.push(data)) await take(chunk);
      } else {
        const stream = createReadStream(file, { highWaterMark: STREAM_BUFFER });
        for await (const data of stream) {
          for (const chunk of chunker.push(data as Buffer)) await take(chunk);
        }
      }
      const last = chunker.finish();
      if (last) await take(last);
    } catch (error) {
      // A read error (or a store failure seen while reading): let the chunks in flight settle.
      await group.wait().catch(() => undefined);
      throw error;
    }
    await group.wait();
    return { chunks: await Promise.all(ids), size };
  }

  /** Stores a tree blob (its JSON bytes, from TreeBuilder). */
  private async storeTree(bytes: Buffer): Promise<string> {
    const id = await this.repo.blobId(bytes);
    await this.treePacker.add(id, 'tree', bytes);
    return id;
  }
}

function metadata(name: string | Buffer, type: TreeNode['type'], stat: EntryStat): TreeNode {
  return entryMetadata(name, type, stat);
}

/**
 * A tree's JSON, built as its nodes come: exactly `JSON.stringify({ nodes })` (the same
 * bytes, so the same tree id, as when it was built from objects), written in name order
 * into one growing buffer as soon as every node before is in. What a folder holds while
 * it is walked is so its tree's bytes, plus the few nodes still on their way.
 */
class TreeBuilder {
  private bytes = Buffer.allocUnsafe(1024);
  private used = 0;
  private count = 0;
  /** Parts after the first one not yet in (in order), or undefined when none waits. */
  private waiting: Array<string | undefined | Promise<string | undefined>> = [];
  private head = 0;
  private pending = 0;
  private failure: { error: unknown } | undefined;
  private finished: ((bytes: Buffer) => void) | undefined;
  private failed: ((error: unknown) => void) | undefined;

  constructor() {
    this.append('{"nodes":[');
  }

  add(part: Part): void {
    if (typeof part === 'string' && this.head === this.waiting.length) {
      this.node(part);
      return;
    }
    const at = this.waiting.length;
    this.waiting.push(part);
    if (typeof part === 'string') return;
    this.pending++;
    part.then(
      (json) => {
        this.pending--;
        this.waiting[at] = json;
        this.drain();
      },
      (error: unknown) => {
        this.pending--;
        this.failure ??= { error };
        this.settle();
      },
    );
  }

  /** The tree's bytes once every part is in; rejects with the first part that failed. */
  finish(): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.finished = resolve;
      this.failed = reject;
      this.settle();
    });
  }

  private drain(): void {
    while (this.head < this.waiting.length) {
      const part = this.waiting[this.head];
      if (part instanceof Promise) break;
      this.waiting[this.head++] = undefined;
      if (part !== undefined) this.node(part);
    }
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    }
    this.settle();
  }

  private settle(): void {
    if (!this.finished) return;
    if (this.failure) {
      if (this.pending === 0) this.failed!(this.failure.error);
      return;
    }
    if (this.pending > 0 || this.head < this.waiting.length) return;
    this.append(']}');
    const done = this.finished;
    this.finished = undefined;
    done(this.bytes.subarray(0, this.used));
  }

  private node(json: string): void {
    if (this.count++ > 0) this.append(',');
    this.append(json);
  }

  private append(text: string): void {
    const need = this.used + Buffer.byteLength(text);
    if (need > this.bytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.bytes.length * 2));
      this.bytes.copy(bigger, 0, 0, this.used);
      this.bytes = bigger;
    }
    this.used += this.bytes.write(text, this.used);
  }
}

/** Byte order of UTF-8 names: stable across locales and platforms. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
