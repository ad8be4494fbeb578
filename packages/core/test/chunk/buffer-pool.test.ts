import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/util/buffer-pool.js';
import { GarbageHint } from '../../src/util/gc-hint.js';

const KiB = 1024;

describe('BufferPool (chunk buffers sized to the chunk)', () => {
  it('sizes a new buffer to the length rounded up to a power of two, within min and max', () => {
    const pool = new BufferPool(64 * KiB, 4096 * KiB + 40, 8192 * KiB);
    expect(pool.take(1).byteLength).toBe(64 * KiB);
    expect(pool.take(300 * KiB).byteLength).toBe(512 * KiB);
    expect(pool.take(1024 * KiB).byteLength).toBe(1024 * KiB);
    expect(pool.take(3000 * KiB).byteLength).toBe(4096 * KiB);
    // Past the largest power of two below max: max itself, never more than asked beyond it.
    expect(pool.take(4096 * KiB + 10).byteLength).toBe(4096 * KiB + 40);
    expect(pool.take(5000 * KiB).byteLength).toBe(5000 * KiB);
  });

  it('reuses the smallest free buffer that fits, and makes a new one when none does', () => {
    const pool = new BufferPool(64 * KiB, 4096 * KiB, 8192 * KiB);
    const small = pool.take(100 * KiB); // 128 KiB
    const big = pool.take(2000 * KiB); // 2 MiB
    pool.give(big);
    pool.give(small);
    expect(pool.idleCount).toBe(2);
    expect(pool.take(120 * KiB)).toBe(small);
    expect(pool.take(120 * KiB)).toBe(big); // the only one left that fits
    const fresh = pool.take(120 * KiB);
    expect(fresh).not.toBe(small);
    expect(fresh).not.toBe(big);
    expect(pool.idleCount).toBe(0);
  });

  it('keeps at most its budget of free buffers, preferring the larger ones', () => {
    const pool = new BufferPool(64 * KiB, 4096 * KiB, 1024 * KiB);
    const a = pool.take(256 * KiB);
    const b = pool.take(256 * KiB);
    const c = pool.take(512 * KiB);
    const d = pool.take(1024 * KiB);
    pool.give(a);
    pool.give(b);
    pool.give(c);
    expect(pool.idleBytes).toBe(1024 * KiB);
    // d (1 MiB) makes room by dropping the smaller ones.
    pool.give(d);
    expect(pool.idleBytes).toBe(1024 * KiB);
    expect(pool.take(1000 * KiB)).toBe(d);
    // A buffer smaller than every free one, with no room, is dropped.
    pool.give(a);
    pool.give(pool.take(1024 * KiB));
    expect(pool.idleBytes).toBeLessThanOrEqual(1024 * KiB);
  });

  it('ignores buffers it did not make, unless adopted (a buffer that came back from another thread)', () => {
    const pool = new BufferPool(64 * KiB, 4096 * KiB, 8192 * KiB);
    const foreign = new ArrayBuffer(128 * KiB);
    pool.give(foreign);
    expect(pool.idleCount).toBe(0);
    expect(pool.owns(foreign)).toBe(false);
    pool.adopt(foreign);
    expect(pool.idleCount).toBe(1);
    expect(pool.take(100 * KiB)).toBe(foreign);
    pool.give(undefined);
    expect(pool.idleCount).toBe(0);
  });

  it('a reused buffer hands out exactly the bytes written to it (no mixing of two chunks)', () => {
    const pool = new BufferPool(64 * KiB, 4096 * KiB, 8192 * KiB);
    const first = Buffer.from(pool.take(200 * KiB), 0, 200 * KiB).fill(1);
    pool.give(first.buffer);
    const second = Buffer.from(pool.take(100 * KiB), 0, 100 * KiB).fill(2);
    expect(second.buffer).toBe(first.buffer);
    expect(second.every((b) => b === 2)).toBe(true);
    expect(second.length).toBe(100 * KiB);
  });
});

describe('GarbageHint', () => {
  it('collects once per threshold of dropped bytes', () => {
    let runs = 0;
    const hint = new GarbageHint(1000, () => runs++);
    hint.drop(400);
    hint.drop(500);
    expect(runs).toBe(0);
    hint.drop(100);
    expect(runs).toBe(1);
    hint.drop(2500);
    expect(runs).toBe(2);
  });

  it("finds V8's collector on this runtime without exposing gc globally", () => {
    const hint = new GarbageHint(1);
    expect(hint.active).toBe(true);
    hint.drop(1);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
