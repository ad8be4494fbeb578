import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Collects garbage after a thread has dropped `threshold` bytes of buffers.
 *
 * V8 starts a full collection for memory outside its heap (ArrayBuffers: the output of
 * every `cipher.update` and every zstd call) only once that memory has grown by about
 * 64 MB since the last one. A chunk worker's heap is a few MB of objects and it makes
 * almost no other garbage, so its dropped buffers piled up to that limit before anything
 * freed them: 60–80 MiB per worker while large files flowed, twice that for the two
 * workers (measured: `process.memoryUsage().arrayBuffers` sampled in each worker). Young
 * collections do not free them (measured: no lower). A full collection of such a small
 * heap takes a few milliseconds, so one per `threshold` bytes (32 MiB in a chunk worker:
 * 32 for a 1 GiB file) bounds the pile at little cost.
 *
 * The collector is V8's `gc` function, which `--expose-gc` makes; the flag is turned on
 * for the moment of making one fresh context (`vm.runInNewContext`) and off again, so no
 * global changes for other code.
 * Where it is not available the hint does nothing, and memory is what it was.
 */
export class GarbageHint {
  private dropped = 0;
  private readonly collect: (() => void) | undefined;

  constructor(
    private readonly threshold: number,
    collect: (() => void) | undefined = fullCollector(),
  ) {
    this.collect = collect;
  }

  /** `bytes` of buffers were dropped (they are garbage now, or will be after this turn). */
  drop(bytes: number): void {
    this.dropped += bytes;
    if (this.dropped >= this.threshold) {
      this.dropped = 0;
      this.collect?.();
    }
  }

  /** Whether a collector is there (false: the hint does nothing). */
  get active(): boolean {
    return this.collect !== undefined;
  }
}

let cached: (() => void) | undefined | null = null;

/** V8's full collector, or undefined when this runtime refuses `--expose-gc` at run time. */
export function fullCollector(): (() => void) | undefined {
  if (cached !== null) return cached;
  cached = undefined;
  try {
    const own = (globalThis as { gc?: () => void }).gc;
    if (typeof own === 'function') cached = () => own();
    else {
      setFlagsFromString('--expose-gc');
      let gc: unknown;
      try {
        gc = runInNewContext('gc');
      } finally {
        setFlagsFromString('--no-expose-gc');
      }
      if (typeof gc === 'function') cached = () => (gc as () => void)();
    }
  } catch {
    cached = undefined;
  }
  return cached;
}
