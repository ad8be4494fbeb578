import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKER_PARAMS } from '../../src/chunk/fastcdc.js';
import { BATCH_MAX, workerPoolBudgets } from '../../src/chunk/worker-budgets.js';
import { OVERHEAD } from '../../src/crypto/cipher.js';
import { BufferPool } from '../../src/util/buffer-pool.js';

const MiB = 1024 * 1024;

describe("workerPoolBudgets (what a chunk worker's pools keep idle)", () => {
  it('keeps about the chunks in flight idle, not (credits + 4) of them', () => {
    const b = workerPoolBudgets(DEFAULT_CHUNKER_PARAMS, 4);
    expect(b.chunks).toBe(4 * MiB);
    expect(b.sealed).toBe(4 * MiB + OVERHEAD);
    // One batch's largest slab and sealed buffer each, not two.
    expect(b.batchSlabs).toBe(BATCH_MAX);
    expect(b.sealedBatches).toBe(BATCH_MAX);
    // All four pools of a worker: at most 16 MiB (+ the tag) idle with the default chunker.
    expect(b.chunks + b.sealed + b.batchSlabs + b.sealedBatches).toBeLessThanOrEqual(16 * MiB + OVERHEAD);
  });

  it('grows with the credits, and always holds one largest chunk for reuse', () => {
    expect(workerPoolBudgets(DEFAULT_CHUNKER_PARAMS, 8).chunks).toBe(8 * MiB);
    const small = { minSize: 8192, avgSize: 32768, maxSize: 131072 };
    const b = workerPoolBudgets(small, 1);
    expect(b.chunks).toBe(small.maxSize);
    expect(b.sealed).toBe(small.maxSize + OVERHEAD);
    // A pool with that budget takes back a buffer of the largest chunk (a smaller budget drops it).
    const pool = new BufferPool(64 * 1024, small.maxSize, b.chunks);
    pool.give(pool.take(small.maxSize));
    expect(pool.idleBytes).toBe(small.maxSize);
    const sealed = new BufferPool(64 * 1024, small.maxSize + OVERHEAD, b.sealed);
    sealed.give(sealed.take(small.maxSize + OVERHEAD));
    expect(sealed.idleBytes).toBe(small.maxSize + OVERHEAD);
  });
});
