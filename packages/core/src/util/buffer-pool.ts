/**
 * Reusable ArrayBuffers sized to what they hold, not to the largest thing they could hold.
 *
 * A chunk worker needs a buffer per chunk in flight; chunks are 256 KiB – 4 MiB (1 MiB on
 * average). Buffers of the maximum size for every chunk made each worker keep up to
 * ~50 MiB it mostly did not use; fresh buffers per chunk made garbage that only the
 * collector frees. Here a buffer's size is the chunk's length rounded up to a power of two
 * (at least `minSize`, at most `maxSize`) and reused, smallest fit first, for any length
 * it holds; what is given back beyond `budget` bytes of free buffers
 * is dropped, so idle memory is bounded by the budget and busy memory by the data in flight.
 */
export class BufferPool {
  /** Free buffers (few: the budget over the smallest size at most). */
  private readonly free: ArrayBuffer[] = [];
  private freeBytes = 0;
  /** Buffers this pool made: only those are taken back. */
  private readonly mine = new WeakSet<ArrayBuffer>();

  constructor(
    private readonly minSize: number,
    /** The largest length asked for: no pooled buffer is larger. */
    private readonly maxSize: number,
    /** Bytes of free buffers kept for reuse; a buffer given back beyond that is dropped. */
    private readonly budget: number,
  ) {
    if (!(minSize > 0 && maxSize >= minSize && budget >= 0)) throw new RangeError('BufferPool: bad sizes');
  }

  /** The size a new buffer for `length` bytes gets. */
  sizeFor(length: number): number {
    if (length >= this.maxSize) return length;
    let size = this.minSize;
    while (size < length) size *= 2;
    return Math.min(size, this.maxSize);
  }

  /** A buffer of at least `length` bytes: the smallest free one that fits, else a new one. */
  take(length: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const size = this.free[i]!.byteLength;
      if (size >= length && (best < 0 || size < this.free[best]!.byteLength)) best = i;
    }
    if (best >= 0) {
      const buffer = this.free[best]!;
      this.free[best] = this.free[this.free.length - 1]!;
      this.free.pop();
      this.freeBytes -= buffer.byteLength;
      return buffer;
    }
    const buffer = new ArrayBuffer(this.sizeFor(length));
    this.mine.add(buffer);
    return buffer;
  }

  /**
   * Gives a buffer back for reuse. One this pool did not make, a detached one, or one that
   * would take the free buffers past the budget is dropped (the smallest free ones make
   * room for a larger one first: a larger buffer fits more of what comes next).
   */
  give(buffer: ArrayBufferLike | undefined): void {
    if (!buffer || !(buffer instanceof ArrayBuffer) || !this.mine.has(buffer)) return;
    if (buffer.byteLength === 0 || buffer.byteLength > this.budget) return;
    while (this.freeBytes + buffer.byteLength > this.budget) {
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++)
        if (this.free[i]!.byteLength < this.free[smallest]!.byteLength) smallest = i;
      const victim = this.free[smallest];
      if (!victim || victim.byteLength >= buffer.byteLength) return;
      this.free[smallest] = this.free[this.free.length - 1]!;
      this.free.pop();
      this.freeBytes -= victim.byteLength;
    }
    this.free.push(buffer);
    this.freeBytes += buffer.byteLength;
  }

  /**
   * Takes a buffer this pool made that came back from another thread (a transfer makes a
   * new ArrayBuffer object, which the pool cannot recognise): `give` it as one of its own.
   */
  adopt(buffer: ArrayBuffer | undefined): void {
    if (!buffer || buffer.byteLength === 0) return;
    this.mine.add(buffer);
    this.give(buffer);
  }

  /** True when this pool made `buffer`. */
  owns(buffer: ArrayBufferLike): boolean {
    return buffer instanceof ArrayBuffer && this.mine.has(buffer);
  }

  /** Bytes of free buffers held for reuse. */
  get idleBytes(): number {
    return this.freeBytes;
  }

  /** Free buffers held for reuse. */
  get idleCount(): number {
    return this.free.length;
  }
}
