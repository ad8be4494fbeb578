import { OVERHEAD } from '../crypto/cipher.js';
import type { ChunkerParams } from './fastcdc.js';

/** Pooled batch buffers: a batch holds up to 2 MiB (DEFAULT_BATCH_LIMITS) plus one file. */
export const BATCH_MIN = 256 * 1024;
export const BATCH_MAX = 4 * 1024 * 1024;

/** Bytes of free buffers each of a chunk worker's pools keeps for reuse (see BufferPool). */
export interface WorkerPoolBudgets {
  /** Chunks of large files, copied out of the read ring. */
  chunks: number;
  /** Sealed chunks of large files, handed to the main thread and back with its `ack`. */
  sealed: number;
  /** The slab a batch of small files is read into. */
  batchSlabs: number;
  /** The buffer a batch's sealed chunks go back in. */
  sealedBatches: number;
}

/**
 * What a worker keeps idle is memory every worker holds at the push's peak, on top of what
 * is in use (at most `credits` chunks, two batches): it is enough that a buffer given back
 * is there for the next chunk or batch, not more. Measured on the bench's real tree
 * (docs/benchmarks.md, "Chunk workers' idle buffers"): (credits + 4) average chunks and two
 * of the largest batches per pool kept ~8 MiB more per worker than reuse needs.
 */
export function workerPoolBudgets(params: ChunkerParams, credits: number): WorkerPoolBudgets {
  const inFlight = credits * params.avgSize;
  return {
    chunks: Math.max(params.maxSize, inFlight),
    sealed: Math.max(params.maxSize + OVERHEAD, inFlight),
    batchSlabs: BATCH_MAX,
    sealedBatches: BATCH_MAX,
  };
}
