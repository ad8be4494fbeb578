import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compiledWorker, workerExists } from '../util/worker-script.js';
import type { BatchOutcome, FromWorker, RestoreWorkerData, ToWorker } from './restore-worker.js';

export type { BatchOutcome, WholeFile, WriteError } from './restore-worker.js';

interface Pending {
  resolve: (outcome: BatchOutcome) => void;
  reject: (error: Error) => void;
  slot: Slot;
}

interface Slot {
  worker: Worker;
  /** Batches given and not answered. */
  active: number;
  /** Why the worker stopped: work given to it after that fails at once. */
  dead?: Error;
}

/**
 * The restore workers (restore-worker.ts): each batch (one downloaded range of a pack, the
 * blobs in it and the small files they fill) goes to the least busy worker, which answers
 * once it is all done. A worker that dies fails its batches, and with them the restore.
 */
export class RestorePool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextJob = 0;

  constructor(data: RestoreWorkerData, size: number) {
    const script = RestorePool.workerScript();
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script, {
        workerData: { ...data, restoreWorker: true },
        // A small young generation: a worker's garbage is mostly buffers of one batch, and
        // the default (16 MiB semi-spaces) let each worker hold ~40 MB more (measured).
        resourceLimits: { maxYoungGenerationSizeMb: 4 },
      });
      const slot: Slot = { worker, active: 0 };
      worker.on('message', (message: FromWorker) => this.onMessage(message));
      worker.on('error', (error) => this.fail(slot, error));
      worker.on('exit', (code) => this.fail(slot, new Error(`restore worker exited with code ${code}`)));
      this.slots.push(slot);
    }
  }

  /** Two workers beside the main thread where there are two cores or more. */
  static defaultSize(): number {
    return Math.max(1, Math.min(2, availableParallelism()));
  }

  /** The compiled worker: next to this module in dist/, or dist/ when run from src/ (tests). */
  static workerScript(): URL {
    return compiledWorker(
      new URL('./restore-worker.js', import.meta.url),
      new URL('../../dist/restore/restore-worker.js', import.meta.url),
    );
  }

  static available(): boolean {
    return workerExists(RestorePool.workerScript());
  }

  /** Batches given to the workers and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  run(batch: Omit<ToWorker, 'type' | 'job'>): Promise<BatchOutcome> {
    const slot = this.slots.reduce((best, s) => (s.active < best.active ? s : best));
    const job = this.nextJob++;
    return new Promise((resolve, reject) => {
      if (slot.dead) {
        reject(slot.dead);
        return;
      }
      slot.active++;
      this.pending.set(job, { resolve, reject, slot });
      slot.worker.postMessage({ type: 'batch', job, ...batch } satisfies ToWorker, [
        batch.data.buffer as ArrayBuffer,
        batch.numbers.buffer as ArrayBuffer,
      ]);
    });
  }

  /** Stops the workers; batches still running fail. */
  async close(): Promise<void> {
    for (const [job, p] of this.pending) {
      this.pending.delete(job);
      p.reject(new Error('restore workers stopped'));
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private onMessage(message: FromWorker): void {
    const p = this.pending.get(message.job);
    if (!p) return;
    this.pending.delete(message.job);
    p.slot.active--;
    if (message.type === 'done') p.resolve(message);
    else p.reject(new Error(`restore worker: ${message.message}`));
  }

  private fail(slot: Slot, error: Error): void {
    slot.dead ??= error;
    for (const [job, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(job);
      p.reject(error);
    }
  }
}
