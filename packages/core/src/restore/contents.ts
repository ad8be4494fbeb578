import { closeSync, constants, promises as fs, ftruncateSync, openSync, renameSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import pLimit from 'p-limit';
import { errorMessage } from '../errors/index.js';
import { keys } from '../repository/format.js';
import type { LocatedBlob } from '../repository/master-index.js';
import type { Repository } from '../repository/repository.js';
import { TaskGroup } from '../util/task-group.js';
import { writeFully, writeFullySync } from '../util/write-fully.js';
import { settleAll } from './bounded.js';
import { compareContents } from './compare.js';
import type { PackSpool } from './pack-spool.js';
import { isDamage, type PlannedEntry } from './plan.js';
import { type BatchOutcome, RestorePool, type WholeFile, type WriteError } from './restore-pool.js';
import { DAMAGED, FAILED, VERIFIED, type WorkerPath } from './restore-worker.js';
import { type FsPath, removeStale, tmpNameFor } from './safe-fs.js';

/** The bounds of a restore's content pipeline (see ContentRestorer). */
export interface ContentLimits {
  /** Pack downloads (ranged GETs) in flight. */
  concurrency: number;
  /** Blob references a window plans at most (a file is never split: a window holds ≥ 1). */
  windowBlobs: number;
  /** Files a window plans at most. */
  windowFiles: number;
  /** Windows being fetched while the next one is planned. */
  windows: number;
  /** Files kept open between two writes; beyond that the least recently used is closed. */
  openFiles: number;
  /** File-system operations (writes, metadata, renames) in flight. */
  fsConcurrency: number;
  /** The longest ranged GET, in stored bytes. */
  maxRequestBytes: number;
  /**
   * Worker threads that open blobs and write small files (restore-worker.ts); 0: all on the
   * main thread. Used only with `ContentOptions.workerMeta`.
   */
  workers: number;
}

/*
 * Windows of 1,024 files take several ranged reads per pack of small files (the real tree:
 * 97 where restic sends 26 requests): push's workers interleave files in packs, so one
 * window's blobs are spread over its packs. Windows of 4,096 files and runs of 16 MiB took
 * 36 GETs, but held ~30 MiB more at the peak (docs/benchmarks.md, "Restore CPU"). Where
 * requests cost (S3) the windows read from a spool of the packs instead, each needed span
 * fetched once (pack-spool.ts: 16 data GETs for the real tree); a local folder is read in place.
 */
export const DEFAULT_CONTENT_LIMITS: ContentLimits = {
  concurrency: 4,
  windowBlobs: 16384,
  windowFiles: 1024,
  windows: 2,
  openFiles: 64,
  fsConcurrency: 16,
  maxRequestBytes: 8 * 1024 * 1024,
  workers: RestorePool.defaultSize(),
};

/**
 * Reads from a store whose requests cost nothing (a local folder): 2 of up to 4 MiB in
 * flight, not 4 of 8. A read there costs no round trip to hide, and what is in flight
 * (with its copies for the workers, freed only when each thread's garbage collector gets
 * to them) is a good part of the restore's peak: the real tree's restore held ~15 MiB less
 * at the same time (docs/benchmarks.md, "Restore CPU on the real tree (restcpu2 …)").
 */
export const LOCAL_READS: Pick<ContentLimits, 'concurrency' | 'maxRequestBytes'> = {
  concurrency: 2,
  maxRequestBytes: 4 * 1024 * 1024,
};

/** How many reads of how many bytes at most are in flight, for a store whose requests cost or not. */
export function readLimits(requestsCost: boolean): Pick<ContentLimits, 'concurrency' | 'maxRequestBytes'> {
  return requestsCost
    ? {
        concurrency: DEFAULT_CONTENT_LIMITS.concurrency,
        maxRequestBytes: DEFAULT_CONTENT_LIMITS.maxRequestBytes,
      }
    : LOCAL_READS;
}

/** A batch for a worker: at most this many blobs, … */
const BATCH_BLOBS = 256;
/** … and at most this many decoded bytes (or one blob). */
const BATCH_RAW = 4 * 1024 * 1024;
/** Batches of one downloaded run in the workers at once. */
const BATCHES_PER_RUN = 2;

/** Blobs closer than this within a pack are fetched in one ranged GET. */
const MERGE_GAP = 1024 * 1024;
/** Decoded bytes of one run waiting to be written before the next blob is decoded. */
const RUN_WRITE_BUDGET = 8 * 1024 * 1024;

export interface ContentProgress {
  filesDone: number;
  bytesDone: number;
}

interface FileJob {
  entry: PlannedEntry;
  /** Its temporary name, once asked for (see tmpOf). */
  tmp?: FsPath;
  remaining: number;
  /** The end of the last byte written (holes are not written). */
  writtenEnd: number;
  failed?: string;
  created: boolean;
  handle?: FileHandle;
  opening?: Promise<FileHandle>;
  /** Writers holding `handle` now. */
  users: number;
  cleaned: boolean;
  /** Handed to a worker, which writes and names it. */
  inWorker?: boolean;
  /** Who owns the file once we create it, when known (see ReadyFolder). */
  owner: Owner | undefined;
  replacedStale?: boolean;
  done: FileDone;
}

type Owner = { uid: number; gid: number };

/**
 * Told once that a file has its name (no reason) or has failed (a reason); may answer with
 * a promise of what it does next (a folder's metadata), which is awaited, or with nothing.
 */
export type FileDone = (reason?: string) => Promise<void> | undefined;

function newJob(entry: PlannedEntry, owner: Owner | undefined, done: FileDone, chunks: number): FileJob {
  return { entry, remaining: chunks, writtenEnd: 0, created: false, users: 0, cleaned: false, owner, done };
}

interface Place {
  job: FileJob;
  offset: number;
}

/** A blob handed to a worker, with the files it writes whole from it (and names). */
interface Sent {
  slot: Slot;
  whole: FileJob[];
}

interface Slot {
  blob: LocatedBlob;
  at: Place[];
}

class Window {
  readonly byPack = new Map<string, Map<string, Slot>>();
  files = 0;
  blobs = 0;
}

export interface ContentOptions {
  limits: ContentLimits;
  verify: boolean;
  progress: ContentProgress;
  onProgress: () => void;
  /** Sets a written file's metadata through its open descriptor, before it takes its name. */
  applyMeta: (handle: FileHandle, entry: PlannedEntry, owner: Owner | undefined) => Promise<void>;
  /** The same on a plain descriptor, synchronously; when given, small files take a fast path. */
  applyMetaSync?: (fd: number, entry: PlannedEntry, owner: Owner | undefined) => void;
  /**
   * What a worker needs to write a small file with the metadata `applyMeta` would set, or
   * undefined when this one needs the main thread (extended attributes). Without it, or
   * with `limits.workers` 0, every file is written on the main thread.
   */
  workerMeta?: (entry: PlannedEntry, owner: Owner | undefined) => Omit<WholeFile, 'tmp' | 'dest'> | undefined;
  /** Packs read once each ahead of the windows (restore/pack-spool.ts); runs are read from it first. */
  spool?: PackSpool;
}

/**
 * Writes file contents with bounded memory, as restic's restorer does: files come in (in
 * tree order) and are planned in windows of a bounded number of files and blob references;
 * each window's blobs are grouped by pack, and each pack's needed runs are fetched with
 * bounded concurrency (one ranged GET per run of nearby blobs), decrypted, and written to
 * every place that needs them. Each file is written under its temporary name, kept open
 * between writes within a bounded pool of descriptors, and renamed into place once complete
 * and its metadata set. Damaged data fails only the files that need it (`done(reason)`);
 * a full disk or any other error stops the restore (the first error, from `finish`).
 */
export class ContentRestorer {
  private window = new Window();
  private readonly group = new TaskGroup();
  private readonly inFlight = new Set<Promise<void>>();
  /** Set while a full window waits for one in flight to finish. */
  private waitingRoom: Promise<void> | undefined;
  private readonly fetchLimit: ReturnType<typeof pLimit>;
  private readonly fsLimit: ReturnType<typeof pLimit>;
  private readonly decodeLimit = pLimit(1);
  /** Open descriptors no writer holds, least recently used first. */
  private readonly idle = new Map<FileJob, true>();
  bytesDownloaded = 0;
  requests = 0;
  verified = 0;
  /** The most descriptors open at once (for tests of the bound). */
  maxOpen = 0;
  private open = 0;

  constructor(
    private readonly repo: Repository,
    private readonly options: ContentOptions,
  ) {
    this.fetchLimit = pLimit(options.limits.concurrency);
    this.fsLimit = pLimit(options.limits.fsConcurrency);
  }

  /**
   * Plans one file (already decided to be written). Returns undefined when the pipeline has
   * room for more, else a promise of when it has: the caller's walk never gets more than a
   * window ahead of the downloads, and a file planned at once costs no promise (the walk
   * hands on tens of thousands of small files). `done` is called once, when the file has
   * its name (no reason) or has failed (a reason).
   */
  add(entry: PlannedEntry, owner: Owner | undefined, done: FileDone): Promise<void> | undefined {
    // A full window waiting for room holds everyone: at most one window is being planned.
    if (this.waitingRoom || this.group.failed) return this.addLater(entry, owner, done);
    const chunks = entry.node.chunks ?? [];
    if (chunks.length === 0) {
      void this.group.spawn(() => this.fsLimit(() => this.finishJob(newJob(entry, owner, done, 0))));
      return undefined;
    }
    // Located in the loaded index here; a blob it lacks is asked of the repository (later).
    const located: LocatedBlob[] = [];
    for (const id of chunks) {
      const blob = this.repo.index.get(id);
      if (!blob) return this.addLater(entry, owner, done);
      located.push(blob);
    }
    return this.plan(newJob(entry, owner, done, chunks.length), located);
  }

  /** `add` that may wait: for room, for a failed pipeline's error, for blobs not in the loaded index. */
  private async addLater(entry: PlannedEntry, owner: Owner | undefined, done: FileDone): Promise<void> {
    while (this.waitingRoom) await this.waitingRoom;
    if (this.group.failed) await this.group.wait();
    const chunks = entry.node.chunks ?? [];
    const job = newJob(entry, owner, done, chunks.length);
    if (chunks.length === 0) {
      void this.group.spawn(() => this.fsLimit(() => this.finishJob(job)));
      return;
    }
    const located: LocatedBlob[] = [];
    for (const id of chunks) {
      const blob = this.repo.index.get(id) ?? (await this.repo.locate(id));
      if (!blob) {
        void this.group.spawn(() =>
          this.failJob(job, `its data (blob ${id}) is in no index: run \`backupctl check\``),
        );
        return;
      }
      located.push(blob);
    }
    await this.plan(job, located);
  }

  /** A file's blobs into the window; the window handed on once full (a promise of room then). */
  private plan(job: FileJob, located: LocatedBlob[]): Promise<void> | undefined {
    const w = this.window;
    let offset = 0;
    for (const blob of located) {
      let pack = w.byPack.get(blob.pack);
      if (!pack) {
        pack = new Map();
        w.byPack.set(blob.pack, pack);
      }
      let slot = pack.get(blob.id);
      if (!slot) {
        slot = { blob, at: [] };
        pack.set(blob.id, slot);
      }
      slot.at.push({ job, offset });
      offset += blob.rawLength;
    }
    w.files++;
    w.blobs += located.length;
    const { windowFiles, windowBlobs } = this.options.limits;
    return w.files >= windowFiles || w.blobs >= windowBlobs ? this.flush() : undefined;
  }

  /** Plans what is left, waits for every file; throws the first error that stopped it. */
  async finish(): Promise<void> {
    try {
      if (!this.group.failed && this.window.files > 0) await this.flush();
      await this.group.wait();
    } catch (error) {
      await this.drain();
      throw error;
    }
    await this.closeWorkers();
  }

  /**
   * Waits for everything started to settle and closes what is open, ignoring errors: for a
   * restore that is already failing. Temporary files stay: a re-run replaces them.
   */
  async drain(): Promise<void> {
    await this.group.wait().catch(() => undefined);
    for (const job of [...this.idle.keys()]) await this.closeHandle(job).catch(() => undefined);
    await this.closeWorkers().catch(() => undefined);
  }

  private async flush(): Promise<void> {
    const w = this.window;
    this.window = new Window();
    if (this.inFlight.size >= this.options.limits.windows) {
      const room = (async () => {
        while (this.inFlight.size >= this.options.limits.windows) await Promise.race(this.inFlight);
      })();
      this.waitingRoom = room;
      try {
        await room;
      } finally {
        this.waitingRoom = undefined;
      }
    }
    if (this.group.failed) await this.group.wait();
    const running = this.group.spawn(() => this.runWindow(w));
    const tracked = running.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private async runWindow(w: Window): Promise<void> {
    await settleAll(
      [...w.byPack].map(([packId, blobs]) =>
        this.fetchLimit(async () => {
          if (this.group.failed) return;
          const sorted = [...blobs.values()].sort((a, b) => a.blob.offset - b.blob.offset);
          for (const run of this.mergeRuns(sorted)) {
            if (this.group.failed) return;
            await this.fetchRun(packId, run);
          }
        }),
      ),
    );
  }

  private mergeRuns(sorted: Slot[]): Slot[][] {
    const runs: Slot[][] = [];
    let start = 0;
    for (const slot of sorted) {
      const run = runs.at(-1);
      const last = run?.at(-1);
      const end = slot.blob.offset + slot.blob.length;
      if (
        run &&
        last &&
        slot.blob.offset - (last.blob.offset + last.blob.length) <= MERGE_GAP &&
        end - start <= this.options.limits.maxRequestBytes
      ) {
        run.push(slot);
      } else {
        runs.push([slot]);
        start = slot.blob.offset;
      }
    }
    return runs;
  }

  private async fetchRun(packId: string, run: Slot[]): Promise<void> {
    const spool = this.options.spool;
    try {
      await this.readRun(packId, run);
    } finally {
      // Each place of the run was planned as one reference to the pack (PackPlan).
      await spool?.used(
        packId,
        run.reduce((n, slot) => n + slot.at.length, 0),
      );
    }
  }

  private async readRun(packId: string, run: Slot[]): Promise<void> {
    if (run.every(({ at }) => at.every((p) => p.job.failed))) return;
    const start = run[0]!.blob.offset;
    const end = run.at(-1)!.blob.offset + run.at(-1)!.blob.length;
    const spool = this.options.spool;
    const spoolPool = spool ? this.workers() : undefined;
    if (spool && spoolPool) {
      // From the spool a batch at a time, each in a buffer of its own that a worker takes
      // as it is: no copy of the run, and no run held while its batches are opened.
      const source = new SpoolRun(spool, packId, (from) => this.getRange(packId, from, end));
      await this.openInWorkers(spoolPool, packId, run, source);
      this.options.onProgress();
      return;
    }
    let bytes: Buffer | undefined;
    let fetchError: string | undefined;
    try {
      bytes = await spool?.read(packId, start, end);
      if (!bytes) bytes = await this.getRange(packId, start, end);
    } catch (error) {
      if (!isDamage(error)) throw error;
      fetchError = `pack ${packId} cannot be read: ${errorMessage(error)}`;
    }
    const pool = bytes && !fetchError ? this.workers() : undefined;
    if (pool && bytes) {
      // Held by the source alone, which openInWorkers lets go of once every batch is handed out.
      const source = new MemoryRun(bytes, start);
      bytes = undefined;
      await this.openInWorkers(pool, packId, run, source);
    } else await this.openHere(packId, run, start, bytes, fetchError);
    this.options.onProgress();
  }

  /** One ranged GET of bytes [start, end) of a pack. */
  private async getRange(packId: string, start: number, end: number): Promise<Buffer> {
    this.requests++;
    const bytes = await this.repo.backend.get(keys.pack(packId), { offset: start, length: end - start });
    this.bytesDownloaded += bytes.length;
    return bytes;
  }

  private poolChecked = false;
  private pool: RestorePool | undefined;

  /** The workers, started at the first download (none when not wanted or not built). */
  private workers(): RestorePool | undefined {
    if (this.poolChecked) return this.pool;
    this.poolChecked = true;
    if (this.options.limits.workers < 1 || !this.options.workerMeta || !RestorePool.available())
      return undefined;
    this.pool = new RestorePool(
      { encKey: this.repo.master.encryption, idKey: this.repo.master.id },
      this.options.limits.workers,
    );
    return this.pool;
  }

  private async closeWorkers(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  /** The blobs of a downloaded run opened here, one at a time, and written (or failed). */
  private async openHere(
    packId: string,
    run: Slot[],
    start: number,
    bytes: Buffer | undefined,
    fetchError: string | undefined,
  ): Promise<void> {
    const writes = new Writes();
    try {
      await this.decodeHere(packId, run, start, bytes, fetchError, writes);
    } finally {
      await writes.settle();
    }
  }

  /** Opens each blob of `slots` here and writes it to its places (but those a worker writes). */
  private async decodeHere(
    packId: string,
    slots: Slot[],
    start: number,
    bytes: Buffer | undefined,
    fetchError: string | undefined,
    writes: Writes,
  ): Promise<void> {
    for (const { blob, at } of slots) {
      if (at.every((p) => p.job.failed || p.job.inWorker)) continue;
      let plain: Buffer | undefined;
      let reason = fetchError;
      if (bytes && !reason) {
        const sealed = bytes.subarray(blob.offset - start, blob.offset - start + blob.length);
        try {
          if (sealed.length !== blob.length) throw new Error(`pack ${packId} is cut short`);
          // One decompression at a time: each runs on a thread-pool thread whose
          // allocations glibc keeps per thread (arenas); several at once grew RSS by ~100 MB.
          plain = blob.compressed
            ? await this.decodeLimit(() => this.repo.openBlob(sealed, blob))
            : await this.repo.openBlob(sealed, blob);
        } catch (error) {
          if (!isDamage(error) && !(error instanceof Error && /cut short/.test(error.message))) throw error;
          reason = errorMessage(error);
        }
      }
      for (const place of at) {
        if (place.job.failed || place.job.inWorker) continue;
        if (!plain) writes.add(this.failJob(place.job, `damaged data: ${reason}`));
        else this.writeDecoded(place, plain, writes);
      }
      await writes.throttle();
    }
  }

  /**
   * The blobs of a downloaded run opened by the workers, in batches, for the small files
   * that are one whole blob (written and named there); the chunks of larger files (and
   * files with extended attributes) are opened and written here meanwhile, by the same
   * path as without workers. Two batches of a run in the workers at once, so both work.
   */
  private async openInWorkers(
    pool: RestorePool,
    packId: string,
    run: Slot[],
    source: RunSource,
  ): Promise<void> {
    const writes = new Writes();
    const inFlight: Array<{ sent: Sent[]; answer: Promise<BatchOutcome> }> = [];
    const settleNext = async () => {
      const next = inFlight.shift()!;
      this.takeAnswers(next.sent, await next.answer, writes);
      await writes.throttle();
    };
    let fetchError: string | undefined;
    try {
      for (const batch of this.batches(run)) {
        if (fetchError !== undefined) {
          await this.decodeHere(packId, batch, 0, undefined, fetchError, writes);
          continue;
        }
        const last = batch.at(-1)!.blob;
        let piece: RunPiece;
        try {
          piece = await source.read(batch[0]!.blob.offset, last.offset + last.length);
        } catch (error) {
          if (!isDamage(error)) throw error;
          // The rest of the run cannot be read: its files fail, those written from it stay.
          fetchError = `pack ${packId} cannot be read: ${errorMessage(error)}`;
          await this.decodeHere(packId, batch, 0, undefined, fetchError, writes);
          continue;
        }
        const { sent, here } = this.sendBatch(pool, packId, batch, piece);
        if (sent) {
          // Owned at once: a rejection is awaited below (or by settle), never left unhandled.
          sent.answer.catch(() => undefined);
          inFlight.push(sent);
        }
        if (here.length > 0) await this.decodeHere(packId, here, piece.base, piece.bytes, undefined, writes);
        if (inFlight.length >= BATCHES_PER_RUN) await settleNext();
      }
      // Every batch has its own copy: the run's bytes can go while the last ones are written.
      source.release();
      while (inFlight.length > 0) await settleNext();
    } finally {
      await Promise.allSettled(inFlight.map((f) => f.answer));
      await writes.settle();
    }
  }

  /** A run cut into batches of at most BATCH_BLOBS blobs and BATCH_RAW decoded bytes. */
  private *batches(run: Slot[]): Generator<Slot[]> {
    let batch: Slot[] = [];
    let raw = 0;
    for (const slot of run) {
      if (batch.length > 0 && (batch.length >= BATCH_BLOBS || raw + slot.blob.rawLength > BATCH_RAW)) {
        yield batch;
        batch = [];
        raw = 0;
      }
      batch.push(slot);
      raw += slot.blob.rawLength;
    }
    if (batch.length > 0) yield batch;
  }

  /**
   * Hands the small files of one batch to the workers: the bytes of the blobs they need
   * (a copy of their own, transferred) and, for each blob, the whole files it fills
   * (`files`: the worker writes and names them). `here`: the blobs with places left for
   * the main thread.
   */
  private sendBatch(
    pool: RestorePool,
    packId: string,
    batch: Slot[],
    piece: RunPiece,
  ): { sent?: { sent: Sent[]; answer: Promise<BatchOutcome> }; here: Slot[] } {
    const sent: Sent[] = [];
    const here: Slot[] = [];
    // The flat form restore-worker.ts reads (ToWorker): numbers, ids, dests, mtimes.
    const numbers: number[] = [];
    const ids: string[] = [];
    const dests: WorkerPath[] = [];
    const mtimes: string[] = [];
    let from = 0;
    let to = 0;
    for (const slot of batch) {
      let whole: FileJob[] | undefined;
      let rest = false;
      let blobAt = -1;
      for (const place of slot.at) {
        const job = place.job;
        if (job.failed) continue;
        const meta =
          job.remaining === 1 && !job.created ? this.options.workerMeta!(job.entry, job.owner) : undefined;
        if (!meta) {
          rest = true;
          continue;
        }
        if (!whole) {
          whole = [];
          const { blob } = slot;
          if (sent.length === 0) from = blob.offset;
          to = blob.offset + blob.length;
          blobAt = numbers.length;
          numbers.push(blob.offset - from, blob.length, blob.rawLength, blob.compressed === true ? 1 : 0, 0);
          ids.push(blob.id);
          sent.push({ slot, whole });
        }
        numbers.push(meta.size, meta.mode, meta.uid ?? -1, meta.gid ?? -1, meta.ownerMatches ? 1 : 0);
        numbers[blobAt + 4]!++;
        dests.push(pathForWorker(job.entry.dest));
        mtimes.push(meta.mtime);
        whole.push(job);
        job.inWorker = true;
      }
      if (rest) here.push(slot);
    }
    if (sent.length === 0) return { here };
    const data = workerBytes(piece, from, to, here.length === 0);
    const answer = pool.run({
      pack: packId,
      data,
      numbers: new Float64Array(numbers),
      ids: ids.join(''),
      dests,
      mtimes,
      verify: this.options.verify,
    });
    return { sent: { sent, answer }, here };
  }

  /** A batch's answer: the files the workers wrote are done (or failed). */
  private takeAnswers(sent: Sent[], answer: BatchOutcome, writes: Writes): void {
    let file = 0;
    let error = 0;
    for (let i = 0; i < sent.length; i++) {
      const { slot, whole } = sent[i]!;
      for (const job of whole) {
        const result = answer.files[file++]!;
        if (result === DAMAGED) {
          writes.add(this.failJob(job, `damaged data: ${answer.damage[i]}`));
          continue;
        }
        if (result === FAILED) {
          writes.add(this.failWrite(job, answer.errors[error++]!));
          continue;
        }
        job.remaining = 0;
        job.cleaned = true;
        if (result === VERIFIED) this.verified++;
        this.options.progress.bytesDone += slot.blob.rawLength;
        this.options.progress.filesDone++;
        writes.add(job.done());
      }
    }
  }

  /** A write a worker could not do: a full disk stops the restore, anything else fails the file. */
  private failWrite(job: FileJob, error: WriteError): Promise<void> {
    // A full disk stops the restore (NO_SPACE): every further file would fail too.
    if (error.code === 'ENOSPC') throw Object.assign(new Error(error.message), { code: error.code });
    return this.failJob(job, error.message);
  }

  /** One place of a decoded blob written: a whole small file at once, else through the pool of descriptors. */
  private writeDecoded(place: Place, plain: Buffer, writes: Writes): void {
    const job = place.job;
    if (this.options.applyMetaSync && !this.options.verify && job.remaining === 1 && !job.created) {
      // The whole file is this one chunk: written and named at once, synchronously.
      writes.add(this.writeWholeSync(place, plain));
      return;
    }
    writes.add(
      this.fsLimit(() => this.writePlace(place, plain)),
      plain.length,
    );
  }

  private isZero(b: Buffer): boolean {
    if (b.length === 0 || b[0] !== 0 || b[b.length - 1] !== 0) return b.length === 0;
    for (let at = 0; at < b.length; at += ZEROS.length) {
      const n = Math.min(ZEROS.length, b.length - at);
      if (ZEROS.compare(b, at, at + n, 0, n) !== 0) return false;
    }
    return true;
  }

  /**
   * A file whose only chunk is `plain`: created, written, its metadata set and renamed with
   * synchronous calls — for small files the thread-pool round trips and promises of the
   * asynchronous calls cost more than the calls themselves (profiled: restore of 100k
   * files). The same steps and guarantees as writePlace + finishJob.
   */
  private async writeWholeSync(place: Place, plain: Buffer): Promise<void> {
    const job = place.job;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
    try {
      let fd: number;
      try {
        fd = openSync(tmpOf(job), flags, 0o600);
      } catch (error) {
        // Something is under the temporary name (a killed run's file): the usual path replaces it.
        if ((error as NodeJS.ErrnoException).code === 'EEXIST')
          return this.fsLimit(() => this.writePlace(place, plain));
        throw error;
      }
      job.created = true;
      try {
        const size = job.entry.node.size ?? 0;
        let end = 0;
        if (!this.isZero(plain)) {
          writeFullySync(fd, plain, place.offset);
          end = place.offset + plain.length;
        }
        if (size > end) ftruncateSync(fd, size);
        this.options.applyMetaSync!(fd, job.entry, job.owner);
      } finally {
        closeSync(fd);
      }
      renameSync(tmpOf(job), job.entry.dest);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw error;
      await this.failJob(job, errorMessage(error));
      return;
    }
    job.remaining = 0;
    job.cleaned = true;
    this.options.progress.bytesDone += plain.length;
    this.options.progress.filesDone++;
    await job.done();
  }

  private async writePlace(place: Place, plain: Buffer): Promise<void> {
    const job = place.job;
    if (job.failed) return;
    // An all-zero chunk is left a hole: the file is given its full size when complete.
    if (!this.isZero(plain)) {
      try {
        const handle = await this.acquire(job);
        try {
          await writeFully(handle, plain, place.offset);
        } finally {
          await this.release(job);
        }
      } catch (error) {
        // A full disk stops the restore (NO_SPACE): every further file would fail too.
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw error;
        await this.failJob(job, errorMessage(error));
        return;
      }
      job.writtenEnd = Math.max(job.writtenEnd, place.offset + plain.length);
    }
    this.options.progress.bytesDone += plain.length;
    if (--job.remaining === 0) await this.finishJob(job);
  }

  /** Verifies (with --verify), sets metadata, closes and renames a complete file. */
  private async finishJob(job: FileJob): Promise<void> {
    if (job.failed) return;
    try {
      const handle = await this.acquire(job);
      try {
        const size = job.entry.node.size ?? 0;
        if (size > job.writtenEnd) await handle.truncate(size);
        if (this.options.verify) {
          const bad = await compareContents(this.repo, handle, job.entry.node);
          if (bad) throw new Error(`read back, it differs from the snapshot: ${bad}`);
          this.verified++;
        }
        // A file we created: its owner is known (what a stale temporary file had is not).
        await this.options.applyMeta(handle, job.entry, job.replacedStale ? undefined : job.owner);
      } finally {
        job.users--;
      }
      await this.closeHandle(job);
      await fs.rename(tmpOf(job), job.entry.dest);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw error;
      await this.failJob(job, errorMessage(error));
      return;
    }
    job.cleaned = true;
    this.options.progress.filesDone++;
    await job.done();
  }

  private async failJob(job: FileJob, reason: string): Promise<void> {
    const first = job.failed === undefined;
    if (first) job.failed = reason;
    // A writer still holding the descriptor cleans up when it lets go (release).
    if (job.users === 0) await this.cleanUp(job);
    if (first) await job.done(reason);
  }

  /** A failed file: its descriptor closed, its temporary file removed (once). */
  private async cleanUp(job: FileJob): Promise<void> {
    if (job.cleaned) return;
    job.cleaned = true;
    await this.closeHandle(job).catch(() => undefined);
    if (job.created) await fs.rm(tmpOf(job), { force: true }).catch(() => undefined);
  }

  private async acquire(job: FileJob): Promise<FileHandle> {
    job.users++;
    this.idle.delete(job);
    if (job.handle) return job.handle;
    job.opening ??= this.openJob(job);
    try {
      job.handle = await job.opening;
      return job.handle;
    } catch (error) {
      job.users--;
      throw error;
    } finally {
      job.opening = undefined;
    }
  }

  private async release(job: FileJob): Promise<void> {
    job.users--;
    if (job.users > 0) return;
    if (job.failed) return this.cleanUp(job);
    if (!job.handle) return;
    this.idle.set(job, true);
    while (this.idle.size > this.options.limits.openFiles) {
      const oldest = this.idle.keys().next().value as FileJob;
      this.idle.delete(oldest);
      await this.closeHandle(oldest);
    }
  }

  private async openJob(job: FileJob): Promise<FileHandle> {
    let handle: FileHandle;
    if (job.created) handle = await fs.open(tmpOf(job), constants.O_RDWR | O_NOFOLLOW);
    else {
      const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
      try {
        handle = await fs.open(tmpOf(job), flags, 0o600);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // What a killed run left under the temporary name: replaced (never a folder, no link followed).
        await removeStale(tmpOf(job));
        handle = await fs.open(tmpOf(job), flags, 0o600);
        job.replacedStale = true;
      }
      job.created = true;
    }
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    return handle;
  }

  private async closeHandle(job: FileJob): Promise<void> {
    const handle = job.handle;
    if (!handle) return;
    job.handle = undefined;
    this.idle.delete(job);
    this.open--;
    await handle.close();
  }
}

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/**
 * Writes of one run in flight: awaited in batches, so the decoded bytes waiting to be
 * written stay under RUN_WRITE_BUDGET (a run holds up to maxRequestBytes of stored data).
 */
class Writes {
  private pending: Array<Promise<void>> = [];
  private bytes = 0;
  /** A write in flight (nothing when it was done at once). */
  add(write: Promise<void> | undefined, bytes = 0): void {
    if (write === undefined) return;
    this.pending.push(write);
    this.bytes += bytes;
  }
  /** Waits for the writes in flight when they hold too much. */
  async throttle(): Promise<void> {
    if (this.bytes >= RUN_WRITE_BUDGET || this.pending.length >= 64) await this.settle();
  }
  async settle(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.bytes = 0;
    await settleAll(batch);
  }
}

/** A path for a worker: text, or its bytes (a name that is not UTF-8). */
function pathForWorker(p: FsPath): WorkerPath {
  return typeof p === 'string' ? p : new Uint8Array(p);
}

/** The temporary name a file is written under (computed once, only where needed). */
function tmpOf(job: FileJob): FsPath {
  job.tmp ??= tmpNameFor(job.entry.dest);
  return job.tmp;
}
const ZEROS = Buffer.alloc(64 * 1024);

/** Bytes of a pack for one batch: `bytes[i]` is the pack's byte `base + i`. */
interface RunPiece {
  bytes: Buffer;
  base: number;
  /** `bytes` is a buffer of its own, exactly the range asked for: a worker may take it as it is. */
  own: boolean;
}

/** Where the bytes of one run of a pack come from, a batch's range at a time (in order). */
interface RunSource {
  /** Bytes covering [from, to) of the pack; throws as a GET does (damage: the files fail). */
  read(from: number, to: number): Promise<RunPiece>;
  /** The bytes held can go (every batch has what it needs). */
  release(): void;
}

/** A run downloaded whole, held until its batches are handed out. */
class MemoryRun implements RunSource {
  constructor(
    private bytes: Buffer | undefined,
    private readonly base: number,
  ) {}
  async read(): Promise<RunPiece> {
    return { bytes: this.bytes!, base: this.base, own: false };
  }
  release(): void {
    this.bytes = undefined;
  }
}

/**
 * A run read from the spool one batch at a time, each batch's bytes in a buffer of their
 * own. Where the spool cannot serve (a pack not planned, a failed download), the rest of
 * the run is read from the store with one GET (`fetch`) and held.
 */
class SpoolRun implements RunSource {
  private rest: MemoryRun | undefined;
  constructor(
    private readonly spool: PackSpool,
    private readonly pack: string,
    private readonly fetch: (from: number) => Promise<Buffer>,
  ) {}
  async read(from: number, to: number): Promise<RunPiece> {
    if (!this.rest) {
      const bytes = await this.spool.read(this.pack, from, to);
      if (bytes) return { bytes, base: from, own: true };
      this.rest = new MemoryRun(await this.fetch(from), from);
    }
    return this.rest.read();
  }
  release(): void {
    this.rest?.release();
  }
}

/**
 * Bytes [from, to) of a pack for a worker, transferred to it: the piece's own buffer as it
 * is when it is exactly that range and nothing here reads it any more (`only`), else a copy
 * (a run's buffer may be pooled, and is still read here).
 */
function workerBytes(piece: RunPiece, from: number, to: number, only: boolean): Uint8Array {
  const { bytes, base } = piece;
  const whole =
    piece.own &&
    only &&
    from === base &&
    to === base + bytes.length &&
    bytes.byteOffset === 0 &&
    bytes.buffer.byteLength === bytes.length;
  return whole
    ? new Uint8Array(bytes.buffer, 0, bytes.length)
    : new Uint8Array(bytes.subarray(from - base, to - base));
}
