import { Worker } from 'node:worker_threads';
import { compiledWorker, workerExists } from '../util/worker-script.js';
import { type Listing, listDir } from './dir-listing.js';
import type { ListerWorkerData, ToLister } from './lister-worker.js';

/**
 * Names the walker thread may list ahead of the walk (with their lstat: ~100 bytes each,
 * so ~2 MB at most), whatever the number of files or folders.
 */
const AHEAD_NAMES = 16_384;
/** Credit is given back in steps of this many names (or with the next `need`). */
const CREDIT_STEP = 2_048;

interface Request {
  dir: string | Buffer;
  listing?: Listing;
  resolve?: (listing: Listing) => void;
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
  private readonly requests = new Map<number, Request>();
  /** Roots asked for before the walk (by path): `take` finds them there. */
  private readonly byPath = new Map<string, number>();
  private nextId = 0;
  private creditOwed = 0;

  private constructor(worker: Worker | undefined) {
    this.worker = worker;
    if (!worker) return;
    worker.unref();
    worker.on('message', (listings: Array<{ id: number; listing: Listing }>) => {
      for (const { id, listing } of listings) this.arrived(id, listing);
    });
    // A walker that fails (it should not: it catches every file-system error) leaves the
    // walk to this thread: what was asked of it is listed here.
    const stop = () => this.fallBack();
    worker.on('error', stop);
    worker.on('exit', stop);
  }

  /** A lister with its walker thread, or one that lists on the calling thread. */
  static start(options: { worker?: boolean } = {}): DirLister {
    const script = DirLister.workerScript();
    if (options.worker === false || !workerExists(script)) return new DirLister(undefined);
    try {
      const data: ListerWorkerData = { credit: AHEAD_NAMES };
      return new DirLister(new Worker(script, { workerData: data }));
    } catch {
      return new DirLister(undefined);
    }
  }

  /** The compiled worker: next to this module in dist/, or dist/ when run from src/ (tests). */
  static workerScript(): URL {
    return compiledWorker(
      new URL('./lister-worker.js', import.meta.url),
      new URL('../../dist/scan/lister-worker.js', import.meta.url),
    );
  }

  /** Whether listings are made in a walker thread (else `ahead` does nothing). */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /**
   * The folders the walk enters next, in the order it enters them: listed ahead, as far
   * as the credit goes. Returns their ids for `take` (undefined without a walker thread).
   */
  ahead(dirs: ReadonlyArray<string | Buffer>): number[] | undefined {
    if (!this.worker || dirs.length === 0) return undefined;
    const items: Array<{ id: number; dir: string | Buffer }> = [];
    for (const dir of dirs) {
      const id = this.nextId++;
      this.requests.set(id, { dir });
      items.push({ id, dir });
    }
    this.post({ type: 'ahead', items });
    return items.map((item) => item.id);
  }

  /** As `ahead`, for the roots: `take` finds them by path. */
  aheadRoots(roots: readonly string[]): void {
    const ids = this.ahead(roots);
    if (ids) for (let i = 0; i < roots.length; i++) this.byPath.set(roots[i]!, ids[i]!);
  }

  /** The listing of `dir` (`id`: from `ahead`), at once when the walker has it already. */
  take(dir: string | Buffer, id?: number): Listing | Promise<Listing> {
    if (id === undefined && typeof dir === 'string') {
      id = this.byPath.get(dir);
      if (id !== undefined) this.byPath.delete(dir);
    }
    if (!this.worker) {
      if (id !== undefined) this.requests.delete(id);
      return listDir(dir);
    }
    let request = id === undefined ? undefined : this.requests.get(id);
    if (request?.listing) {
      this.requests.delete(id!);
      this.giveBack(request.listing);
      return request.listing;
    }
    if (!request || id === undefined) {
      id = this.nextId++;
      request = { dir };
      this.requests.set(id, request);
      this.post({ type: 'need', id, dir });
    } else {
      this.post({ type: 'need', id });
    }
    const wanted = request;
    const key = id;
    return new Promise<Listing>((resolve) => {
      wanted.resolve = (listing) => {
        this.requests.delete(key);
        this.giveBack(listing);
        resolve(listing);
      };
    });
  }

  /** Stops the walker thread (listings not taken are dropped). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.requests.clear();
    this.byPath.clear();
    if (worker) {
      worker.removeAllListeners();
      await worker.terminate();
    }
  }

  private arrived(id: number, listing: Listing): void {
    const request = this.requests.get(id);
    if (!request) return;
    if (request.resolve) request.resolve(listing);
    else request.listing = listing;
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

  /** The walker stopped: everything asked of it and not listed yet is listed here. */
  private fallBack(): void {
    if (!this.worker) return;
    this.worker = undefined;
    for (const [id, request] of this.requests) {
      if (request.listing) continue;
      if (request.resolve) request.resolve(listDir(request.dir));
      else this.requests.delete(id);
    }
  }
}
