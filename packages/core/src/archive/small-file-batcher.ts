import type { ChunkPool } from '../chunk/chunk-pool.js';
import type { PackWriter } from '../repository/pack.js';

/** A small file stored: its chunk ids and the bytes read. */
export interface StoredFile {
  chunks: string[];
  size: number;
  /** Whether the worker, having read it, listed extended attributes on it (undefined: not looked). */
  hasXattrs?: boolean;
}

export interface SmallFileEvents {
  /** A new blob was packed: its plaintext length. */
  onNewBlob(rawLength: number): void;
  /** A file's bytes were read and stored (new or deduplicated). */
  onBytes(bytes: number): void;
}

export interface BatchLimits {
  /** Files per batch at most. */
  files: number;
  /** Bytes per batch: a batch is sent once it holds this many (one file may exceed it). */
  bytes: number;
  /** Batches in flight per worker: read, waiting for the main thread, or being sealed. */
  perWorker: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { files: 64, bytes: 2 * 1024 * 1024, perWorker: 2 };

interface Entry {
  path: string | Buffer;
  size: number;
  resolve: (file: StoredFile) => void;
  reject: (error: unknown) => void;
}

/**
 * Stores small files through the chunk workers, in batches, so that the main thread does no
 * per-byte work for them: a worker reads, chunks and hashes a batch and answers with the
 * ids; here the index decides which chunks are new (`packer.claim`, one synchronous step,
 * so a chunk seen twice is stored once); the worker compresses and encrypts those and
 * hands them over sealed, and they are copied into the pack. The result is what the main
 * thread would have stored (same ids, same compression decisions, same pack format).
 *
 * Memory is bounded by `perWorker × workers` batches of at most `bytes` (plus one file);
 * what waits beyond that is only the paths. A file that cannot be read rejects with the
 * error the read gave (its `code` kept, for `isFileReadError`); any other failure — a
 * worker that died, an upload that failed — rejects every file of its batch.
 */
export class SmallFileBatcher {
  private queue: Entry[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private inFlight = 0;

  constructor(
    private readonly pool: ChunkPool,
    private readonly packer: PackWriter,
    private readonly events: SmallFileEvents,
    private readonly limits: BatchLimits = DEFAULT_BATCH_LIMITS,
  ) {}

  store(path: string | Buffer, size: number): Promise<StoredFile> {
    return new Promise<StoredFile>((resolve, reject) => {
      this.queue.push({ path, size, resolve, reject });
      this.queuedBytes += size;
      if (this.queue.length >= this.limits.files || this.queuedBytes >= this.limits.bytes)
        this.dispatch(true);
      else if (!this.flushScheduled) {
        // Files of one folder arrive within a turn of the event loop: send what came then.
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.dispatch(false);
        });
      }
    });
  }

  /** Sends batches while workers have room: only full ones unless `partial`. */
  private dispatch(fullOnly: boolean): void {
    const room = this.pool.size * this.limits.perWorker;
    while (this.queue.length > 0 && this.inFlight < room) {
      if (fullOnly && this.queue.length < this.limits.files && this.queuedBytes < this.limits.bytes) return;
      const batch = this.take();
      this.inFlight++;
      // Owned: every failure is handed to the batch's files; the next batch starts after it.
      void this.run(batch)
        .catch((error: unknown) => {
          for (const entry of batch) entry.reject(error);
        })
        .finally(() => {
          this.inFlight--;
          this.dispatch(false);
        });
    }
  }

  private take(): Entry[] {
    let bytes = 0;
    let n = 0;
    while (
      n < this.queue.length &&
      n < this.limits.files &&
      (n === 0 || bytes + this.queue[n]!.size <= this.limits.bytes)
    ) {
      bytes += this.queue[n]!.size;
      n++;
    }
    const batch = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    this.queuedBytes -= bytes;
    return batch;
  }

  private async run(batch: Entry[]): Promise<void> {
    const { job, files } = await this.pool.readBatch(batch.map((e) => ({ path: e.path, size: e.size })));
    const want: number[] = [];
    const wantIds: string[] = [];
    const wantLengths: number[] = [];
    let index = 0;
    for (const file of files) {
      if (!('ids' in file)) continue;
      for (let k = 0; k < file.ids.length; k++, index++) {
        if (this.packer.claim(file.ids[k]!)) {
          want.push(index);
          wantIds.push(file.ids[k]!);
          wantLengths.push(file.lengths[k]!);
        }
      }
    }
    // Also when nothing is new: the worker frees the batch then.
    const sealed = await this.pool.sealBatch(job, want);
    let at = 0;
    for (let k = 0; k < want.length; k++) {
      const length = sealed.lengths[k]!;
      const raw = wantLengths[k]!;
      await this.packer.place(
        wantIds[k]!,
        'data',
        sealed.data.subarray(at, at + length),
        raw,
        sealed.compressed[k]!,
      );
      at += length;
      this.events.onNewBlob(raw);
    }
    // Every sealed chunk is copied into a pack: the buffer goes back to its worker.
    sealed.release();
    for (let i = 0; i < batch.length; i++) {
      const file = files[i]!;
      const entry = batch[i]!;
      if ('ids' in file) {
        const size = file.lengths.reduce((a, b) => a + b, 0);
        this.events.onBytes(size);
        entry.resolve({ chunks: file.ids, size, hasXattrs: file.hasXattrs });
      } else {
        entry.reject(Object.assign(new Error(file.message), file.code ? { code: file.code } : {}));
      }
    }
  }
}
