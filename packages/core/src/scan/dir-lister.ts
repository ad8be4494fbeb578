import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { compiledWorker, workerExists } from '../util/worker-script.js';
import { type Listing, listDir } from './dir-listing.js';
import type { ListerWorkerData, ToLister } from './lister-worker.js';

/**
 * A folder listed on the walk's own thread is lstat'ed in one go up to this many names
 * (~300 KB of stats); a larger one entry by entry as the walk reaches it, so memory and
 * the time before its walk starts do not grow with the folder.
 */
export const EAGER_MAX_NAMES = 4096;

/**
 * Names the walker thread may list ahead of the walk (with their lstat: ~100 bytes each,
 * so ~2 MB at most), whatever the number of files or folders.
 */
const AHEAD_NAMES = 16_384;
/** Credit is given back in steps of this many names (or with the next message). */
const CREDIT_STEP = 2_048;
/**
 * Slots of the shared "listed by the main thread" marks (by id, modulo). Far more than the
 * folders ever asked ahead at once (the credit bounds those), so a slot is reused only
 * long after; a stale mark could only make the walker skip a folder, which is then listed
 * by the main thread (never a wrong listing).
 */
const TAKEN_SLOTS = 1 << 16;

type Listings = Array<{ id: number; listing: Listing }>;

interface Request {
  dir: string | Buffer;
  listing?: Listing;
}

/**
 * Folder listings with every entry's lstat (dir-listing.ts) for the walk, made in a walker
 * thread (lister-worker.ts) ahead of it: the main thread then makes no syscall per
 * unchanged file. `ahead` names the folders the walk will enter next; `take` hands one
 * over, at once when it was listed already. Where no compiled worker exists (tests run
 * from src/ before a build) or the thread stops, folders are listed on the calling thread.
 */
export class DirLister {
  private worker: Worker | undefined;
  /** The walker thread may still be started (at the first `ahead`). */
  private startable: boolean;
  private readonly requests = new Map<number, Request>();
  private nextId = 0;
  private creditOwed = 0;

  private port: MessagePort | undefined;
  private taken: Uint8Array | undefined;

  private constructor(startable: boolean) {
    this.startable = startable;
  }

  /**
   * A lister whose walker thread starts when first handed folders (`ahead`): a walk that
   * never does so (folders of a few names: listed here) starts no thread. `worker: false`
   * (or no compiled worker): it lists on the calling thread only.
   */
  static start(options: { worker?: boolean } = {}): DirLister {
    return new DirLister(options.worker !== false && workerExists(DirLister.workerScript()));
  }

  private startWorker(): Worker | undefined {
    this.startable = false;
    try {
      const { port1, port2 } = new MessageChannel();
      const taken = new SharedArrayBuffer(TAKEN_SLOTS);
      const data: ListerWorkerData = { credit: AHEAD_NAMES, port: port2, taken };
      const worker = new Worker(DirLister.workerScript(), { workerData: data, transferList: [port2] });
      worker.unref();
      port1.on('message', (listings: Listings) => this.arrivedAll(listings));
      port1.unref();
      // A walker that fails (it should not: it catches every file-system error) leaves the
      // walk to this thread: what was asked of it is listed here when taken.
      const stop = () => this.fallBack();
      worker.on('error', stop);
      worker.on('exit', stop);
      this.worker = worker;
      this.port = port1;
      this.taken = new Uint8Array(taken);
      return worker;
    } catch {
      return undefined;
    }
  }

  /** The compiled worker: next to this module in dist/, or dist/ when run from src/ (tests). */
  static workerScript(): URL {
    return compiledWorker(
      new URL('./lister-worker.js', import.meta.url),
      new URL('../../dist/scan/lister-worker.js', import.meta.url),
    );
  }

  /** Listings `take` had from the walker thread (the others were made on the calling thread). */
  fromWalker = 0;

  /** Whether listings may be made in a walker thread (else `ahead` does nothing). */
  get threaded(): boolean {
    return this.worker !== undefined || this.startable;
  }

  /**
   * The folders the walk enters next, in the order it enters them: listed ahead, as far
   * as the credit goes. Returns their ids for `take` (undefined without a walker thread).
   */
  ahead(dirs: ReadonlyArray<string | Buffer>): number[] | undefined {
    if (dirs.length === 0) return undefined;
    if (!this.worker && !(this.startable && this.startWorker())) return undefined;
    const items: Array<{ id: number; dir: string | Buffer }> = [];
    for (const dir of dirs) {
      const id = this.nextId++;
      if (this.taken) Atomics.store(this.taken, id % this.taken.length, 0);
      this.requests.set(id, { dir });
      items.push({ id, dir });
    }
    this.post({ type: 'ahead', items });
    return items.map((item) => item.id);
  }

  /**
   * The listing of `dir` (`id`: from `ahead`): the walker's when it has it already, else
   * made here and now — the walk never waits for the walker thread (a wait is two thread
   * wake-ups, more than listing a small folder), it only gains when the walker is ahead.
   */
  take(dir: string | Buffer, id?: number): Listing {
    const request = id === undefined ? undefined : this.requests.get(id);
    // Listings that arrived while the walk ran without a turn of the event loop: taken now.
    if (request && !request.listing && this.port) {
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port))
        this.arrivedAll(m.message as Listings);
    }
    if (request) this.requests.delete(id!);
    if (request?.listing) {
      this.giveBack(request.listing);
      this.fromWalker++;
      return request.listing;
    }
    if (request && this.worker) this.cancel(id!);
    return listDir(dir, EAGER_MAX_NAMES);
  }

  /** Stops the walker thread (listings not taken are dropped). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.startable = false;
    this.requests.clear();
    if (worker) {
      worker.removeAllListeners();
      this.port?.close();
      await worker.terminate();
    }
  }

  private arrivedAll(listings: Listings): void {
    for (const { id, listing } of listings) this.arrived(id, listing);
  }

  private arrived(id: number, listing: Listing): void {
    const request = this.requests.get(id);
    // Listed here meanwhile (or the walk is over): its credit comes back all the same.
    if (!request) this.giveBack(listing);
    else request.listing = listing;
  }

  /** A folder listed here although asked of the walker: it skips it if it has not listed it yet. */
  private cancel(id: number): void {
    if (this.taken) Atomics.store(this.taken, id % this.taken.length, 1);
  }

  private giveBack(listing: Listing): void {
    this.creditOwed += listing.names.length + 1;
    if (this.creditOwed >= CREDIT_STEP) this.post({ type: 'credit', names: 0 });
  }

  private post(message: ToLister): void {
    if (!this.worker) return;
    // Credit owed rides along with every message.
    if (this.creditOwed > 0) {
      this.worker.postMessage({ type: 'credit', names: this.creditOwed } satisfies ToLister);
      this.creditOwed = 0;
    }
    if (message.type === 'credit') return;
    this.worker.postMessage(message);
  }

  /** The walker stopped: what was asked of it and not listed yet is listed here when taken. */
  private fallBack(): void {
    this.worker = undefined;
  }
}
