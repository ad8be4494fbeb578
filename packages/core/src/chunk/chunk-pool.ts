import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ChunkWorkerData, FromWorker, ToWorker } from './chunk-worker.js';

export interface WorkerChunk {
  index: number;
  id: string;
  data: Buffer;
}

interface Job {
  onChunk: (chunk: WorkerChunk) => Promise<void>;
  pending: Set<Promise<void>>;
  resolve: (result: { chunks: number; size: number }) => void;
  reject: (error: Error) => void;
  worker: WorkerSlot;
}

interface WorkerSlot {
  worker: Worker;
  active: number;
}

/**
 * Worker threads that read, chunk and hash files (see chunk-worker.ts). The main thread
 * deduplicates, encrypts what is new, packs and uploads. A chunk is acknowledged once `onChunk` has
 * taken it, which is the backpressure that bounds memory.
 */
export class ChunkPool {
  private readonly slots: WorkerSlot[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextJob = 0;

  constructor(data: ChunkWorkerData, size = ChunkPool.defaultSize()) {
    const script = ChunkPool.workerScript();
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script, { workerData: data });
      const slot: WorkerSlot = { worker, active: 0 };
      worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
      worker.on('error', (error) => this.failWorker(slot, error));
      worker.on('exit', (code) => this.failWorker(slot, new Error(`chunk worker exited with code ${code}`)));
      this.slots.push(slot);
    }
  }

  static defaultSize(): number {
    return Math.max(1, Math.min(4, availableParallelism()));
  }

  /** The compiled worker: next to this module in dist/, or dist/ when run from src/ (tests). */
  static workerScript(): URL {
    const here = new URL('./chunk-worker.js', import.meta.url);
    if (existsSync(fileURLToPath(here))) return here;
    return new URL('../../dist/chunk/chunk-worker.js', import.meta.url);
  }

  static available(): boolean {
    return existsSync(fileURLToPath(ChunkPool.workerScript()));
  }

  chunkFile(
    path: string,
    onChunk: (chunk: WorkerChunk) => Promise<void>,
  ): Promise<{ chunks: number; size: number }> {
    const slot = this.slots.reduce((a, b) => (b.active < a.active ? b : a));
    const job = this.nextJob++;
    slot.active++;
    return new Promise((resolve, reject) => {
      this.jobs.set(job, { onChunk, pending: new Set(), resolve, reject, worker: slot });
      slot.worker.postMessage({ type: 'file', job, path } satisfies ToWorker);
    });
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
    if (!job) return;
    if (message.type === 'chunk') {
      const data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
      const work = job
        .onChunk({ index: message.index, id: message.id, data })
        .then(
          () => slot.worker.postMessage({ type: 'ack', job: message.job } satisfies ToWorker),
          (error: unknown) => {
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
      else job.reject(Object.assign(new Error(message.message), { code: message.code }));
    });
  }

  private finish(job: number, slot: WorkerSlot): void {
    if (this.jobs.delete(job)) slot.active--;
  }

  private failWorker(slot: WorkerSlot, error: Error): void {
    for (const [id, job] of this.jobs) {
      if (job.worker === slot) {
        this.jobs.delete(id);
        job.reject(error);
      }
    }
  }
}
