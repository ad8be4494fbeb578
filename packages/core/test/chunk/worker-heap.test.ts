import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  ownSemiSpaceMb,
  WORKER_SEMI_SPACE_MB,
  withSmallYoungGeneration,
} from '../../src/chunk/worker-heap.js';

const MiB = 1024 * 1024;

/**
 * A worker that keeps a sliding window of objects alive while it allocates (as a busy
 * thread does), then says how large its young generation grew (new space: two semi-spaces).
 */
const CHURN = `
const v8 = require('node:v8');
let keep = [];
for (let i = 0; i < 2e6; i++) {
  keep.push({ i, s: 'x' + i });
  if (keep.length > 50000) keep = keep.slice(25000);
}
const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
require('node:worker_threads').parentPort.postMessage(space.space_size);
`;

function newSpaceOf(worker: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    worker.once('message', (size: number) => {
      void worker.terminate();
      resolve(size);
    });
    worker.once('error', reject);
  });
}

describe('ownSemiSpaceMb (the semi-space flag the process started with)', () => {
  it('reads the flag from the command line and NODE_OPTIONS, the command line last, as V8 does', () => {
    expect(ownSemiSpaceMb([])).toBe(0);
    expect(ownSemiSpaceMb(['--max-semi-space-size=8'])).toBe(8);
    expect(ownSemiSpaceMb(['--max-semi-space-size', '16'])).toBe(16);
    expect(ownSemiSpaceMb([], '--max-old-space-size=512 --max-semi-space-size=4')).toBe(4);
    expect(ownSemiSpaceMb(['--max-semi-space-size=8'], '--max-semi-space-size=4')).toBe(8);
    expect(ownSemiSpaceMb(['--max-semi-space-size=2', '--max-semi-space-size=32'])).toBe(32);
    // Not a number V8 would take: not this flag's value.
    expect(ownSemiSpaceMb(['--max-semi-space-size=big'])).toBe(0);
  });
});

describe('withSmallYoungGeneration', () => {
  it('sets the small value for the start, and the own value back once every worker has started', () => {
    const flags: string[] = [];
    const { result, started } = withSmallYoungGeneration(
      2,
      () => 'made',
      (f) => flags.push(f),
      8,
    );
    expect(result).toBe('made');
    expect(flags).toEqual([`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]);
    started();
    expect(flags).toHaveLength(1);
    started();
    expect(flags).toEqual([`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`, '--max-semi-space-size=8']);
    started();
    expect(flags).toHaveLength(2);
  });

  it('sets the value back when the start throws, and when there is nothing to wait for', () => {
    const flags: string[] = [];
    expect(() =>
      withSmallYoungGeneration(
        2,
        () => {
          throw new Error('no worker');
        },
        (f) => flags.push(f),
        0,
      ),
    ).toThrow('no worker');
    expect(flags.at(-1)).toBe('--max-semi-space-size=0');
    withSmallYoungGeneration(
      0,
      () => undefined,
      (f) => flags.push(f),
      0,
    );
    expect(flags.at(-1)).toBe('--max-semi-space-size=0');
  });

  it("gives a real worker's isolate the small young generation, and the next isolates the process's own", async () => {
    const { result: worker, started } = withSmallYoungGeneration(1, () => new Worker(CHURN, { eval: true }));
    worker.once('online', started);
    const small = await newSpaceOf(worker);
    expect(small).toBeLessThanOrEqual(2 * WORKER_SEMI_SPACE_MB * MiB);
    // Set back: a worker made afterwards grows its young generation as V8 would.
    const after = await newSpaceOf(new Worker(CHURN, { eval: true }));
    expect(after).toBeGreaterThan(2 * WORKER_SEMI_SPACE_MB * MiB);
  });
});
