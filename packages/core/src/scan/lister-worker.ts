/**
 * The walker thread (dir-lister.ts): lists folders and lstat's their entries with plain
 * blocking calls, so that a push's one syscall per file runs beside the main thread
 * instead of on it. It lists only what the main thread asks for:
 *
 * - `ahead`: the folders the walk will enter next, in walk order (one batch per folder
 *   entered, the latest batch first: that is the walk's depth-first order), listed while
 *   the credit lasts — names listed and not yet taken by the main thread. `credit` gives
 *   back what the main thread took. So memory stays bounded whatever the tree.
 * - a folder the main thread listed itself (it needed it before this thread got to it:
 *   it never waits for this one) is marked in the shared `taken` array, not said in a
 *   message: this thread skips it, without being woken for it.
 *
 * One folder per turn of the event loop: requests arriving meanwhile are seen between two.
 */

import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { type Listing, listDir } from './dir-listing.js';

export interface ListerWorkerData {
  /** Names the walker may list ahead of the main thread. */
  credit: number;
  /** Where listings go: the main thread takes them from it without waiting for its event loop. */
  port: MessagePort;
  /** Byte `id % taken.length` is 1 once the main thread listed folder `id` itself. */
  taken: SharedArrayBuffer;
}

export type ToLister =
  | { type: 'ahead'; items: Array<{ id: number; dir: string | Uint8Array }> }
  | { type: 'credit'; names: number };

const port = parentPort!;
const out = (workerData as ListerWorkerData).port;
let credit = (workerData as ListerWorkerData).credit;
const taken = new Uint8Array((workerData as ListerWorkerData).taken);
const isTaken = (id: number) => Atomics.load(taken, id % taken.length) === 1;
/** Asked for and not listed yet. */
const pending = new Map<number, string | Uint8Array>();
const batches: Array<{ ids: number[]; next: number }> = [];
let scheduled = false;

port.on('message', (message: ToLister) => {
  if (message.type === 'ahead') {
    for (const item of message.items) pending.set(item.id, item.dir);
    batches.push({ ids: message.items.map((item) => item.id), next: 0 });
  } else {
    credit += message.names;
  }
  schedule();
});

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(step);
}

function nextId(): number | undefined {
  if (credit <= 0) return undefined;
  while (batches.length > 0) {
    const top = batches[batches.length - 1]!;
    while (top.next < top.ids.length) {
      const id = top.ids[top.next++]!;
      if (!pending.has(id)) continue;
      if (isTaken(id)) {
        pending.delete(id);
        continue;
      }
      return id;
    }
    batches.pop();
  }
  return undefined;
}

/** Listings made and not posted yet: several go in one message (a message costs ~20–100 µs). */
let outbox: Array<{ id: number; listing: Listing }> = [];
let outboxNames = 0;
const POST_NAMES = 1_024;

function step(): void {
  scheduled = false;
  const id = nextId();
  if (id === undefined) {
    flush();
    return;
  }
  const dir = pending.get(id)!;
  pending.delete(id);
  const listing = listDir(dir);
  credit -= listing.names.length + 1;
  outbox.push({ id, listing });
  outboxNames += listing.names.length + 1;
  // A few folders at a time; the first one at once (the walk may be about to want it).
  if (outbox.length === 1 || outboxNames >= POST_NAMES) flush();
  schedule();
}

function flush(): void {
  if (outbox.length === 0) return;
  out.postMessage(outbox);
  outbox = [];
  outboxNames = 0;
}
