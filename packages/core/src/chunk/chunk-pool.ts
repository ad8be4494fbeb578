import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compiledWorker, workerExists } from '../util/worker-script.js';
import type {
  BatchFile,
  BatchFileResult,
  ChunkWorkerData,
  FromWorker,
  ToWorker,
  WorkerPath,
} from './chunk-worker.js';
import { withSmallYoungGeneration } from './worker-heap.js';

export type { BatchFile, BatchFileResult } from './chunk-worker.js';

/** The wanted chunks of a batch, sealed back to back (see chunk-worker.ts). */
export interface SealedBatch {
  data: Buffer;
  lengths: number[];
  compressed: boolean[];
  /**
   * Hands `data`'s buffer back to the worker that sealed it, for its next batch (no
   * garbage buffer per batch). Call it once `data` is copied; `data` is unusable after.
   */
  release(): void;
}

/** A chunk of a large file, by id: the main thread decides whether it is to be stored. */
export interface WorkerChunkId {
  index: number;
  id: string;
  length: number;
}

/** A chunk the main thread wanted, sealed as `repo.sealBlob` seals (valid until `onSealed` settles). */
export interface WorkerSealedChunk {
  index: number;
  sealed: Buffer;
  rawLength: number;
  compressed: boolean;
}

export interface FileHandlers {
  /** True when the chunk is new (then `onSealed` follows for it). Synchronous: the dedup check. */
  onId(chunk: WorkerChunkId): boolean;
  /** Packs a new chunk; its promise is the backpressure. */
  onSealed(chunk: WorkerSealedChunk): Promise<void>;
}

/** A batch step waiting for its one answer. */
interface BatchStep {
  kind: 'batch';
  resolve: (message: FromWorker) => void;
  reject: (error: Error) => void;
  worker: WorkerSlot;
}

interface Job {
  kind: 'file';
  handlers: FileHandlers;
  pending: Set<Promise<void>>;
  resolve: (result: { chunks: number; size: number }) => void;
  reject: (error: Error) => void;
  worker: WorkerSlot;
}

interface WorkerSlot {
  worker: Worker;
  active: number;
  /**
   * A sealed batch's buffer released and not handed back yet: it goes with the next
   * message to this worker (`ToWorker.give`), which for a busy worker is its next batch or
   * seal, so the worker has it back before it seals again. At most one waits.
   */
  gift?: ArrayBuffer;
  /** Why the worker stopped: work given to it after that fails at once, never waits. */
  dead?: Error;
}

/**
 * Worker threads that read, chunk and hash files (see chunk-worker.ts). The main thread
 * deduplicates, encrypts what is new, packs and uploads. A chunk is acknowledged once `onChunk` has
 * taken it, which is the backpressure that bounds memory.
 */
export class ChunkPool {
  private readonly slots: WorkerSlot[] = [];
  private readonly jobs = new Map<number, Job | BatchStep>();
  private nextJob = 0;

  constructor(data: ChunkWorkerData, size = ChunkPool.defaultSize()) {
    const script = ChunkPool.workerScript();
    // Each worker's isolate gets a small young generation (worker-heap.ts).
    const { result: workers, started } = withSmallYoungGeneration(size, () =>
      Array.from({ length: size }, () => new Worker(script, { workerData: data })),
    );
    for (const worker of workers) {
      const slot: WorkerSlot = { worker, active: 0 };
      let running = false;
      const run = () => {
        if (running) return;
        running = true;
        started();
      };
      worker.once('online', run);
      worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
      worker.on('error', (error) => {
        run();
        this.failWorker(slot, error);
      });
      worker.on('exit', (code) => {
        run();
        this.failWorker(slot, new Error(`chunk worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  static defaultSize(): number {
    return Math.max(1, Math.min(4, availableParallelism()));
  }

  /** The compiled worker: next to this module in dist/, or dist/ when run from src/ (tests). */
  static workerScript(): URL {
    return compiledWorker(
      new URL('./chunk-worker.js', import.meta.url),
      new URL('../../dist/chunk/chunk-worker.js', import.meta.url),
    );
  }

  static available(): boolean {
    return workerExists(ChunkPool.workerScript());
  }

  chunkFile(path: WorkerPath, handlers: FileHandlers): Promise<{ chunks: number; size: number }> {
    const slot = this.pick();
    const job = this.nextJob++;
    slot.active++;
    return new Promise((resolve, reject) => {
      if (slot.dead) {
        reject(slot.dead);
        return;
      }
      this.jobs.set(job, { kind: 'file', handlers, pending: new Set(), resolve, reject, worker: slot });
      this.send(slot, { type: 'file', job, path });
    });
  }

  /** Batches in the workers (read but not sealed yet): what bounds a batcher's memory. */
  get batchesInFlight(): number {
    return this.batchSlots.size;
  }

  get size(): number {
    return this.slots.length;
  }

  private readonly batchSlots = new Map<number, WorkerSlot>();

  /**
   * Has a worker read, chunk and hash a batch of small files: each file's chunk ids, or
   * its read error. The worker keeps the chunks until `sealBatch` (which must follow, with
   * the same job, also when nothing is wanted: it frees them).
   */
  readBatch(files: BatchFile[]): Promise<{ job: number; files: BatchFileResult[] }> {
    const slot = this.pick();
    const job = this.nextJob++;
    slot.active++;
    this.batchSlots.set(job, slot);
    return this.step(slot, job, { type: 'batch', job, files }).then(
      (message) => {
        if (message.type !== 'ids') throw new Error(`chunk worker answered ${message.type} to a batch`);
        return { job, files: message.files };
      },
      (error: unknown) => {
        this.endBatch(job);
        throw error;
      },
    );
  }

  /** Has the worker that read batch `job` compress and encrypt its chunks `want`. */
  sealBatch(job: number, want: number[]): Promise<SealedBatch> {
    const slot = this.batchSlots.get(job);
    if (!slot) return Promise.reject(new Error(`no batch ${job} in the chunk workers`));
    if (want.length === 0) {
      // Everything known (a touched but unchanged file): free the batch, no round trip.
      this.endBatch(job);
      if (slot.dead) return Promise.reject(slot.dead);
      this.send(slot, { type: 'drop', job });
      return Promise.resolve({
        data: Buffer.alloc(0),
        lengths: [],
        compressed: [],
        release: () => undefined,
      });
    }
    return this.step(slot, job, { type: 'seal', job, want })
      .then((message) => {
        if (message.type !== 'sealed') throw new Error(`chunk worker answered ${message.type} to a seal`);
        const buffer = message.data.buffer as ArrayBuffer;
        let released = false;
        return {
          data: Buffer.from(buffer, message.data.byteOffset, message.data.byteLength),
          lengths: message.lengths,
          compressed: message.compressed,
          release: () => {
            if (released || slot.dead) return;
            released = true;
            // One waits at most: an older one goes now, on a message of its own.
            const older = slot.gift;
            slot.gift = buffer;
            if (older) slot.worker.postMessage({ type: 'give', buffer: older } satisfies ToWorker, [older]);
          },
        };
      })
      .finally(() => this.endBatch(job));
  }

  private endBatch(job: number): void {
    const slot = this.batchSlots.get(job);
    if (!slot) return;
    this.batchSlots.delete(job);
    slot.active--;
  }

  /** The least busy worker still running (or a dead one, whose work then fails at once). */
  private pick(): WorkerSlot {
    const alive = this.slots.filter((s) => !s.dead);
    return (alive.length > 0 ? alive : this.slots).reduce((a, b) => (b.active < a.active ? b : a));
  }

  private step(slot: WorkerSlot, job: number, message: ToWorker): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (slot.dead) {
        reject(slot.dead);
        return;
      }
      this.jobs.set(job, { kind: 'batch', resolve, reject, worker: slot });
      this.send(slot, message);
    });
  }

  /** Posts `message` to the slot's worker, with the buffer waiting to go back if there is one. */
  private send(slot: WorkerSlot, message: ToWorker, transfer: ArrayBuffer[] = []): void {
    const gift = slot.gift;
    if (gift === undefined) {
      slot.worker.postMessage(message, transfer);
      return;
    }
    slot.gift = undefined;
    message.give = gift;
    slot.worker.postMessage(message, [...transfer, gift]);
  }

  /** Stops the workers; jobs still running fail (a push that failed stops here). */
  async close(): Promise<void> {
    for (const [id, job] of this.jobs) {
      this.jobs.delete(id);
      job.reject(new Error('chunk workers stopped'));
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private onMessage(slot: WorkerSlot, message: FromWorker): void {
    const job = this.jobs.get(message.job);
    if (!job) {
      // A file that already failed: its chunks are dropped, so the worker can finish it.
      if (message.type === 'chunkId') {
        slot.worker.postMessage({
          type: 'decide',
          job: message.job,
          index: message.index,
          seal: false,
        } satisfies ToWorker);
      } else if (message.type === 'chunkSealed') {
        slot.worker.postMessage({ type: 'ack', job: message.job } satisfies ToWorker);
      }
      return;
    }
    if (job.kind === 'batch') {
      this.jobs.delete(message.job);
      if (message.type === 'error') job.reject(new Error(message.message));
      else job.resolve(message);
      return;
    }
    if (message.type === 'chunkId') {
      let seal = false;
      try {
        seal = job.handlers.onId({ index: message.index, id: message.id, length: message.length });
      } catch (error) {
        this.finish(message.job, slot);
        job.reject(error instanceof Error ? error : new Error(String(error)));
      }
      slot.worker.postMessage({
        type: 'decide',
        job: message.job,
        index: message.index,
        seal: seal && this.jobs.has(message.job),
      } satisfies ToWorker);
      return;
    }
    if (message.type === 'chunkSealed') {
      const sealed = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
      const work = job.handlers
        .onSealed({ index: message.index, sealed, rawLength: message.length, compressed: message.compressed })
        .then(
          // Packed (copied): the buffer goes back to the worker for the next chunk.
          () =>
            slot.worker.postMessage(
              {
                type: 'ack',
                job: message.job,
                buffer: message.data.buffer as ArrayBuffer,
              } satisfies ToWorker,
              [message.data.buffer as ArrayBuffer],
            ),
          (error: unknown) => {
            // The worker still gets its credit back, so it finishes the file and takes the next.
            slot.worker.postMessage({ type: 'ack', job: message.job } satisfies ToWorker);
            this.finish(message.job, slot);
            job.reject(error instanceof Error ? error : new Error(String(error)));
          },
        )
        .finally(() => job.pending.delete(work));
      job.pending.add(work);
      return;
    }
    const pending = [...job.pending];
    void Promise.all(pending).then(() => {
      if (!this.jobs.has(message.job)) return;
      this.finish(message.job, slot);
      if (message.type === 'done') job.resolve({ chunks: message.chunks, size: message.size });
      else if (message.type === 'error')
        job.reject(Object.assign(new Error(message.message), { code: message.code }));
      else job.reject(new Error(`chunk worker answered ${message.type} to a file`));
    });
  }

  private finish(job: number, slot: WorkerSlot): void {
    // Only file jobs count here; batches count from readBatch to the end of sealBatch.
    if (this.jobs.delete(job)) slot.active--;
  }

  private failWorker(slot: WorkerSlot, error: Error): void {
    slot.dead ??= error;
    for (const [id, job] of this.jobs) {
      if (job.worker === slot) {
        this.jobs.delete(id);
        job.reject(error);
      }
    }
  }
}
