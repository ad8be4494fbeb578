/**
 * The walker thread (dir-lister.ts): lists folders and lstat's their entries with plain
 * blocking calls, so that a push's one syscall per file runs beside the main thread
 * instead of on it. It lists only what the main thread asks for:
 *
 * - `need`: a folder the walk waits for, listed first, whatever the credit;
 * - `ahead`: the folders the walk will enter next, in walk order (one batch per folder
 *   entered, the latest batch first: that is the walk's depth-first order), listed while
 *   the credit lasts — names listed and not yet taken by the main thread. `credit` gives
 *   back what the main thread took. So memory stays bounded whatever the tree.
 *
 * One folder per turn of the event loop: requests arriving meanwhile are seen between two.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { type Listing, listDir } from './dir-listing.js';

export interface ListerWorkerData {
  /** Names the walker may list ahead of the main thread. */
  credit: number;
}

export type ToLister =
  | { type: 'need'; id: number; dir?: string | Uint8Array }
  | { type: 'ahead'; items: Array<{ id: number; dir: string | Uint8Array }> }
  | { type: 'credit'; names: number };

const port = parentPort!;
let credit = (workerData as ListerWorkerData).credit;
/** Asked for and not listed yet. */
const pending = new Map<number, string | Uint8Array>();
const urgent: number[] = [];
const batches: Array<{ ids: number[]; next: number }> = [];
let scheduled = false;

port.on('message', (message: ToLister) => {
  if (message.type === 'need') {
    if (message.dir !== undefined) pending.set(message.id, message.dir);
    urgent.push(message.id);
  } else if (message.type === 'ahead') {
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
  while (urgent.length > 0) {
    const id = urgent.shift()!;
    if (pending.has(id)) return id;
  }
  if (credit <= 0) return undefined;
  while (batches.length > 0) {
    const top = batches[batches.length - 1]!;
    while (top.next < top.ids.length) {
      const id = top.ids[top.next++]!;
      if (pending.has(id)) return id;
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
  const wasUrgent = urgent.length > 0;
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
  // What the walk waits for goes at once; what it will want next, a few folders at a time.
  if (wasUrgent || urgent.length > 0 || outboxNames >= POST_NAMES) flush();
  schedule();
}

function flush(): void {
  if (outbox.length === 0) return;
  port.postMessage(outbox);
  outbox = [];
  outboxNames = 0;
}
