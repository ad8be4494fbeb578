import { type BigIntStats, createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { FileCache, type FileFingerprint } from '../cache/file-cache.js';
import type { RepoCache } from '../cache/repo-cache.js';
import { ChunkPool } from '../chunk/chunk-pool.js';
import { FastCdcChunker } from '../chunk/fastcdc.js';
import { errorMessage } from '../errors/index.js';
import { keys, type Snapshot, type SnapshotSummary, type Tree, type TreeNode } from '../repository/format.js';
import { saveIndex } from '../repository/index-sync.js';
import { PackWriter } from '../repository/pack.js';
import type { Repository } from '../repository/repository.js';
import { VirtualFsDetector } from '../scan/virtual-fs.js';
import { WalkFilter } from '../scan/walk-filter.js';
import { TaskGroup } from '../util/task-group.js';
import { entryMetadata, entryName, joinPath, targetFields } from './entry-metadata.js';
import { isFileReadError, readSmallFile } from './read-file.js';
import { SmallFileBatcher } from './small-file-batcher.js';
import type { PushEvents, PushOptions, PushProgress, PushResult, PushWarning } from './types.js';

/** Files up to this size are read in one call; larger ones are streamed. */
const WHOLE_READ_LIMIT = 1024 * 1024;
const STREAM_BUFFER = 1024 * 1024;
/** Chunks of one file in flight in the main thread (when no worker runs: tests from src/). */
const CHUNKS_IN_FLIGHT = 4;
/** Chunks of a large file a worker may have told before they are dropped or packed (bounds memory). */
const WORKER_CREDITS = 8;
/**
 * An index file is written once this many blobs are in uploaded packs: what the push holds
 * for its index, and the size of each index file, stay bounded whatever the file count.
 */
const INDEX_FILE_BLOBS = 50_000;
/** Entries of one folder being looked at at once (a folder may hold 100,000 files). */
const ENTRIES_IN_FLIGHT = 32;

/**
 * Walks the chosen paths and stores them: files (through the chunk workers: large ones one
 * by one, small ones in batches, small-file-batcher.ts),
 * trees, then the index and the snapshot. One instance per push.
 */
export class Archiver {
  private filter!: WalkFilter;
  private readonly packer: PackWriter;
  private readonly treePacker: PackWriter;
  private readonly fileLimit: ReturnType<typeof pLimit>;
  private readonly virtualFs = new VirtualFsDetector();
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

  constructor(
    private readonly repo: Repository,
    private readonly cache: RepoCache,
    private readonly options: PushOptions,
    private readonly events: PushEvents,
  ) {
    this.fileLimit = pLimit(options.fileConcurrency ?? 8);
    const onPackUploaded = (pack: { size: number }) => {
      this.progress.bytesUploaded += pack.size;
      this.report();
      this.maybeSaveIndex();
    };
    this.packer = new PackWriter(repo, options.uploadConcurrency ?? repo.backend.writeConcurrency ?? 2, {
      onPackUploaded,
    });
    // Trees go to packs of their own (as restic does): restore and check then fetch all of
    // a snapshot's trees with a few GETs instead of one ranged GET per folder.
    this.treePacker = new PackWriter(repo, 1, { onPackUploaded });
  }

  async run(roots: string[]): Promise<Omit<PushResult, 'recoveredPacks' | 'durationMs'>> {
    // What the walk leaves out lives in scan/ (shared with push --dry-run).
    this.filter = new WalkFilter(roots, this.options);
    try {
      return await this.runWithPool(roots);
    } finally {
      this.fileCache?.discard();
    }
  }

  private async runWithPool(roots: string[]): Promise<Omit<PushResult, 'recoveredPacks' | 'durationMs'>> {
    if (!ChunkPool.available()) return this.archive(roots);
    this.pool = new ChunkPool({
      seed: this.repo.master.chunkerSeed,
      idKey: this.repo.master.id,
      params: this.repo.config.chunker,
      credits: WORKER_CREDITS,
      encKey: this.repo.master.encryption,
      compression: this.repo.compression,
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
    try {
      return await this.archive(roots);
    } finally {
      await this.pool.close();
    }
  }

  private async archive(roots: string[]): Promise<Omit<PushResult, 'recoveredPacks' | 'durationMs'>> {
    this.fileCache = await FileCache.load(this.cache.file('files.bin'));
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
      throw error;
    }
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
      await this.fileCache!.save(roots);
    } catch (error) {
      cacheWarnings.push(
        `the file cache could not be saved (${errorMessage(error)}): the next push reads every file again`,
      );
    }
    return { snapshotId, snapshot, warnings: this.warnings, cacheWarnings };
  }

  private lastReport = 0;
  private indexSaving: Promise<unknown> = Promise.resolve();

  /** Writes an index file for the packs uploaded so far once they hold enough blobs. */
  private maybeSaveIndex(): void {
    if (this.packer.untakenBlobs + this.treePacker.untakenBlobs < INDEX_FILE_BLOBS) return;
    const packs = [...this.packer.takeWritten(), ...this.treePacker.takeWritten()];
    // Chained, so the final save waits for it; a failure surfaces there (promise owned).
    this.indexSaving = this.indexSaving.then(() => saveIndex(this.repo, this.cache, packs));
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

  /** Counts files and bytes ahead of the archiver, for the progress bar's ETA. */
  private async scanTotals(roots: string[]): Promise<void> {
    const walk = async (p: string): Promise<void> => {
      let stat: BigIntStats;
      try {
        stat = await fs.lstat(p, { bigint: true });
      } catch {
        return;
      }
      if (await this.filter.excludes(p, stat)) return;
      if (await this.virtualFs.kindOf(p, stat.dev)) return;
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
        await this.filter.enterDir(p);
        for (const name of names) await walk(path.join(p, name));
      }
    };
    for (const root of roots) await walk(root);
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
    const nodes: TreeNode[] = [];
    for (const [name, under] of [...children].sort(([a], [b]) => compareNames(a, b))) {
      const child = path.join(dir, name);
      if (under.includes(child)) {
        const node = await this.archiveEntry(child, name, true);
        if (node) nodes.push(node);
      } else {
        const stat = await fs.lstat(child, { bigint: true });
        const subtree = await this.archiveSelection(child, under);
        nodes.push({ ...metadata(name, 'dir', stat), subtree });
      }
    }
    return this.storeTree({ nodes });
  }

  private async archiveDir(dir: string | Buffer): Promise<string> {
    let raw: Buffer[];
    try {
      // Names as bytes: a name that is not valid UTF-8 is kept, not lost.
      raw = await fs.readdir(dir, { encoding: 'buffer' });
    } catch (error) {
      this.warn(dir.toString(), error);
      raw = [];
    }
    raw.sort(Buffer.compare);
    await this.filter.enterDir(dir.toString());
    // Owned and bounded: at most ENTRIES_IN_FLIGHT entries of a folder at once; the first
    // failure stops the entries not started yet, and every started one settles before this
    // returns (nothing of a failed push runs on after it).
    const group = new TaskGroup(ENTRIES_IN_FLIGHT);
    const pending = raw.map((bytes) =>
      group.spawn(() => {
        const name = entryName(bytes);
        return this.archiveEntry(joinPath(dir, name), name, false);
      }),
    );
    await group.wait();
    const nodes = await Promise.all(pending);
    return this.storeTree({ nodes: nodes.filter((n): n is TreeNode => n !== undefined) });
  }

  private async archiveEntry(
    file: string | Buffer,
    name: string | Buffer,
    isRoot: boolean,
  ): Promise<TreeNode | undefined> {
    // The filter knows paths as text (a lossy copy for a name that is not UTF-8).
    const shown = file.toString();
    let stat: BigIntStats;
    try {
      stat = await fs.lstat(file, { bigint: true });
    } catch (error) {
      if (!isRoot && this.filter.excludedByPattern(shown)) return undefined;
      this.warn(shown, error);
      return undefined;
    }
    if (!isRoot && (await this.filter.excludes(shown, stat))) return undefined;
    if (isRoot) await this.filter.excludes(shown, stat); // records the root's file system
    const virtual = await this.virtualFs.kindOf(shown, stat.dev);
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
      const subtree = await this.archiveDir(file);
      return { ...metadata(name, 'dir', stat), subtree };
    }
    if (stat.isSymbolicLink()) {
      try {
        const target = await fs.readlink(file, { encoding: 'buffer' });
        return { ...metadata(name, 'symlink', stat), ...targetFields(target) };
      } catch (error) {
        this.warn(shown, error);
        return undefined;
      }
    }
    if (stat.isFile()) {
      // Small files in flight are bounded by the batcher, not by fileLimit: batches need more.
      if (this.batcher && stat.size <= BigInt(WHOLE_READ_LIMIT)) return this.archiveFile(file, name, stat);
      return this.fileLimit(() => this.archiveFile(file, name, stat));
    }
    // Sockets, FIFOs and devices hold no data to back up: skipped without a warning (as
    // restic), so a home folder holding a socket does not make every push "partial".
    this.summary.special++;
    return undefined;
  }

  private async archiveFile(
    source: string | Buffer,
    name: string | Buffer,
    stat: BigIntStats,
  ): Promise<TreeNode | undefined> {
    // The file cache, warnings and progress know paths as text (a lossy copy for a name
    // that is not UTF-8: a cache entry is still checked against size, times and inode).
    const file = source.toString();
    const fingerprint: FileFingerprint = {
      size: Number(stat.size),
      mtimeNs: stat.mtimeNs.toString(),
      ctimeNs: stat.ctimeNs.toString(),
      ino: stat.ino.toString(),
    };
    let chunks = this.fileCache!.lookup(file, fingerprint);
    let size = fingerprint.size;
    if (!chunks?.every((id) => this.packer.knows(id))) {
      try {
        ({ chunks, size } =
          this.pool && fingerprint.size > WHOLE_READ_LIMIT
            ? await this.readInWorker(this.pool, source)
            : this.batcher
              ? await this.batcher.store(source, fingerprint.size)
              : await this.readAndStore(source, fingerprint.size));
      } catch (error) {
        // A file we cannot read is skipped (exit code 3); anything else — storage,
        // quarantine, a bug — stops the push.
        if (!isFileReadError(error)) throw error;
        this.warn(file, error);
        return undefined;
      }
    } else {
      this.progress.bytesDone += size;
      this.progress.bytesUnchanged += size;
      this.progress.filesUnchanged++;
    }
    this.fileCache!.record(file, fingerprint, chunks);
    this.summary.files++;
    this.summary.bytes += size;
    this.progress.filesDone++;
    this.report(file);
    return { ...metadata(name, 'file', stat), size, chunks };
  }

  private async readInWorker(
    pool: ChunkPool,
    file: string | Buffer,
  ): Promise<{ chunks: string[]; size: number }> {
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
  ): Promise<{ chunks: string[]; size: number }> {
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

  private async storeTree(tree: Tree): Promise<string> {
    const bytes = Buffer.from(JSON.stringify(tree));
    const id = await this.repo.blobId(bytes);
    await this.treePacker.add(id, 'tree', bytes);
    return id;
  }
}

function metadata(name: string | Buffer, type: TreeNode['type'], stat: BigIntStats): TreeNode {
  return entryMetadata(name, type, stat);
}

/** Byte order of UTF-8 names: stable across locales and platforms. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
