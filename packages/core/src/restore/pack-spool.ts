import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { keys } from '../repository/format.js';
import type { Backend } from '../storage/backend.js';
import { isProcessAlive } from '../util/process-alive.js';
import { writeFully } from '../util/write-fully.js';
import type { PackNeeds } from './pack-plan.js';

/** The longest `get` of a backend without `getStream` (the bytes of one are held at once). */
const GET_PIECE = 8 * 1024 * 1024;
/** Downloaded bytes gathered before one write to the spool file. */
const WRITE_BYTES = 1024 * 1024;
const PREFIX = 'restore-spool-';

export interface SpoolLimits {
  /** Bytes of packs kept on disk at most (one pack more while the one asked for loads). */
  bytes: number;
  /**
   * Bytes read ahead of need at most (early, and the packs planned next), when less than
   * `bytes`; a pack a reader asks for still loads up to `bytes`. Pages of a pack used up
   * are given back before the next is read: fewer new page-cache pages, which cost more
   * system time than the copy into them (docs/benchmarks.md, "Restore from S3: CPU").
   */
  aheadBytes?: number;
  /** Packs downloaded at once (the one asked for and those planned next). */
  ahead: number;
  /**
   * Every pack planned will be read (the target was empty: each file planned is written),
   * so packs are read before any reader asks: early, while the walk plans, and the next
   * one as each download ends. Otherwise (files may be found unchanged and never read) a
   * pack is read only when a reader asks for it or for one planned just before it.
   */
  eager?: boolean;
}

interface Spooled {
  readonly pack: string;
  readonly needs: PackNeeds;
  readonly file: string;
  handle?: FileHandle;
  /** The download, settled once it stopped (false: it failed). Never rejects. */
  ready: Promise<boolean>;
  /** Written so far: every span before `span`, and span `span` up to `at` (a pack offset). */
  span: number;
  at: number;
  /** The download stopped (all written, or failed). */
  stopped: boolean;
  /** Readers waiting for their range to be written. */
  waiters: Array<() => void>;
  /** Readers between asking and having their bytes: the file stays while there are any. */
  readers: number;
  /** Let go (used up, or evicted): removed once no reader holds it. */
  dropped: boolean;
}

/**
 * The packs a restore needs, read once each and kept on disk until every file that needs
 * them has its bytes. The content pipeline plans a bounded window of files at a time, and
 * push interleaves files within packs, so window after window asks for scattered ranges
 * of the same packs: read from the store, that was a ranged GET per window and pack (98
 * requests for the real tree on S3, restic 26). With the whole restore's needs known from
 * the counting walk (PackPlan), each needed span of a pack is one streamed GET into a
 * temporary file (its bytes are held a piece at a time, not the span), and the windows read
 * their ranges from it. The bytes are the pack's, still encrypted and authenticated when
 * opened: a spool file changed on disk fails like a damaged pack. Anything the spool cannot
 * serve (a pack not planned, a failed download, a full disk) answers undefined and the
 * caller reads the store as before. Only for backends whose requests cost
 * (`Backend.requestsCost`): a local folder is read in place.
 *
 * The downloads need not wait for the walk's end: a pack the files planned so far need
 * for at least half of itself (PackPlan's EarlyReads) is read whole at once (`early`), so
 * the walk, which keeps one core busy, and the downloads overlap. Once the plan is given
 * (`planned`), the other packs follow in the order the walk first needs them, as far
 * ahead as `limits` allow, whether or not a reader has asked yet.
 */
export class PackSpool {
  requests = 0;
  bytesDownloaded = 0;
  private plan: Map<string, PackNeeds>;
  /** The walk still plans: no reader yet, only packs read whole early (`early`). */
  private planning: boolean;
  private order: string[] = [];
  private readonly position = new Map<string, number>();
  private readonly refsLeft = new Map<string, number>();
  /** Packs told of by `early`, waiting for a download slot or room on disk. */
  private readonly earlyQueue: Array<{ pack: string; size: number }> = [];
  /** Spooled packs, least recently read first. */
  private readonly spooled = new Map<string, Spooled>();
  /** Used up: never spooled again. */
  private readonly finished = new Set<string>();
  private readonly downloads = new Set<Promise<boolean>>();
  private held = 0;
  private loading = 0;
  private cursor = 0;
  private closed = false;

  private constructor(
    private readonly backend: Backend,
    plan: Map<string, PackNeeds> | undefined,
    private readonly dir: string,
    private readonly limits: SpoolLimits,
  ) {
    this.plan = new Map();
    this.planning = true;
    if (plan) this.planned(plan);
  }

  /**
   * A spool in a folder of its own under `parent` (the repository's cache folder: a disk,
   * not /tmp, which is memory on many systems), or undefined when none can be made there.
   * Folders a killed restore left (its process gone) are removed first. Without `plan` the
   * walk is still planning: `early` may start packs, `planned` gives the plan.
   */
  static async create(
    backend: Backend,
    plan: Map<string, PackNeeds> | undefined,
    parent: string,
    limits: SpoolLimits,
  ): Promise<PackSpool | undefined> {
    try {
      await fs.mkdir(parent, { recursive: true, mode: 0o700 });
      await removeAbandoned(parent);
      const dir = await fs.mkdtemp(path.join(parent, `${PREFIX}${process.pid}-`));
      return new PackSpool(backend, plan, dir, limits);
    } catch {
      return undefined;
    }
  }

  /** Bytes [start, end) of `pack`, from its spooled copy, in a buffer of their own; undefined: read the store instead. */
  async read(pack: string, start: number, end: number): Promise<Buffer | undefined> {
    const needs = this.plan.get(pack);
    if (this.closed || this.planning || !needs || this.finished.has(pack)) return undefined;
    const covers = (s: { start: number; end: number }) => s.start <= start && end <= s.end;
    // A pack read early covers all of itself; one started now, the spans planned.
    const spooled =
      this.spooled.get(pack) ?? (needs.spans.some(covers) ? this.start(pack, needs, true) : undefined);
    if (!spooled) return undefined;
    const span = spooled.needs.spans.findIndex(covers);
    if (span < 0) return undefined;
    // Most recently read: to the end.
    this.spooled.delete(pack);
    this.spooled.set(pack, spooled);
    spooled.readers++;
    try {
      this.readAhead(pack);
      // A range is read as soon as it is written, not when the whole span is.
      const written = () => spooled.span > span || (spooled.span === span && spooled.at >= end);
      while (!written() && !spooled.stopped) await new Promise<void>((r) => spooled.waiters.push(r));
      if (!written() || !spooled.handle) return undefined;
      // A buffer of its own (never a slice of Node's pool): a restore worker may take it as it is.
      const bytes = Buffer.allocUnsafeSlow(end - start);
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await spooled.handle.read(bytes, done, bytes.length - done, start + done);
        if (bytesRead <= 0) return undefined;
        done += bytesRead;
      }
      return bytes;
    } catch {
      return undefined;
    } finally {
      spooled.readers--;
      if (spooled.dropped) await this.remove(spooled);
    }
  }

  /**
   * While the walk plans: `pack`, of `size` stored bytes, is needed for much of itself
   * (PackPlan's EarlyReads), so it is read whole now, while downloads and disk allow.
   */
  early(pack: string, size: number): void {
    if (this.closed || !this.planning || !this.limits.eager || this.spooled.has(pack)) return;
    this.earlyQueue.push({ pack, size });
    this.pump();
  }

  /**
   * The walk's plan, complete: readers may come, and the packs not read yet are started in
   * the order the walk first needs them. A pack read early stays, whatever the plan says
   * it needs of it (all of that lies inside it).
   */
  planned(plan: Map<string, PackNeeds>): void {
    if (!this.planning) throw new Error('PackSpool: planned twice');
    this.planning = false;
    this.earlyQueue.length = 0;
    this.plan = plan;
    this.order = [...plan.keys()];
    for (const [pack, needs] of plan) {
      this.position.set(pack, this.position.size);
      this.refsLeft.set(pack, needs.refs);
    }
    // Read early but not in the plan (a plan cannot lose a pack, but then no reader comes).
    for (const spooled of [...this.spooled.values()]) if (!plan.has(spooled.pack)) void this.drop(spooled);
    if (this.limits.eager) this.pump();
  }

  /** `refs` chunk references of `pack` were served: a pack used up is removed from disk. */
  async used(pack: string, refs: number): Promise<void> {
    const left = (this.refsLeft.get(pack) ?? 0) - refs;
    this.refsLeft.set(pack, left);
    if (left > 0) return;
    this.finished.add(pack);
    const spooled = this.spooled.get(pack);
    if (spooled) await this.drop(spooled);
  }

  /** Stops the downloads and removes every spooled file. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.downloads]);
    for (const spooled of [...this.spooled.values()]) await spooled.handle?.close().catch(() => undefined);
    this.spooled.clear();
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Bytes held beyond which nothing more is read ahead of need. */
  private get aheadBound(): number {
    return Math.min(this.limits.bytes, this.limits.aheadBytes ?? this.limits.bytes);
  }

  /** Starts the packs planned after `pack`, while downloads and disk allow. */
  private readAhead(pack: string): void {
    this.cursor = Math.max(this.cursor, (this.position.get(pack) ?? 0) + 1);
    this.pump();
  }

  /** Starts what is waiting (packs told of early; then those planned from `cursor` on), while downloads and disk allow. */
  private pump(): void {
    if (this.closed) return;
    if (this.planning) {
      while (this.earlyQueue.length > 0 && this.loading < this.limits.ahead) {
        const { pack, size } = this.earlyQueue[0]!;
        // One that can never fit is left to the plan (its spans); one that fits later waits.
        if (size <= this.limits.bytes && this.held + size > this.aheadBound) return;
        this.earlyQueue.shift();
        if (size > this.limits.bytes) continue;
        if (!this.spooled.has(pack))
          this.start(pack, { spans: [{ start: 0, end: size }], refs: 0, bytes: size }, false);
      }
      return;
    }
    for (let i = this.cursor; i < this.order.length && this.loading < this.limits.ahead; i++) {
      const next = this.order[i]!;
      if (this.spooled.has(next) || this.finished.has(next)) continue;
      const needs = this.plan.get(next)!;
      if (this.held + needs.bytes > this.aheadBound) return;
      this.start(next, needs, false);
    }
  }

  private start(pack: string, needs: PackNeeds, asked: boolean): Spooled {
    // The pack asked for always loads: room is made by letting go of packs no one reads.
    if (asked) {
      for (const other of [...this.spooled.values()]) {
        if (this.held + needs.bytes <= this.limits.bytes) break;
        if (other.readers === 0) void this.drop(other);
      }
    }
    const spooled: Spooled = {
      pack,
      needs,
      file: path.join(this.dir, pack),
      ready: Promise.resolve(false),
      span: 0,
      at: needs.spans[0]?.start ?? 0,
      stopped: false,
      waiters: [],
      readers: 0,
      dropped: false,
    };
    this.held += needs.bytes;
    this.loading++;
    const download = this.download(spooled).finally(() => {
      this.loading--;
      this.downloads.delete(download);
      spooled.stopped = true;
      this.wake(spooled);
      // A slot is free: the next pack starts without waiting for a reader to ask.
      if (this.limits.eager) this.pump();
    });
    this.downloads.add(download);
    spooled.ready = download;
    this.spooled.set(pack, spooled);
    return spooled;
  }

  /** Every span of the pack into its file; false on any failure (readers read the store). */
  private async download(spooled: Spooled): Promise<boolean> {
    try {
      const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
      spooled.handle = await fs.open(spooled.file, flags, 0o600);
      const spans = spooled.needs.spans;
      for (let i = 0; i < spans.length; i++) {
        if (this.closed || spooled.dropped) return false;
        await this.fetchSpan(spooled, spooled.handle, spans[i]!.start, spans[i]!.end);
        spooled.span = i + 1;
        spooled.at = spans[i + 1]?.start ?? 0;
        this.wake(spooled);
      }
      return !this.closed;
    } catch {
      return false;
    }
  }

  private async fetchSpan(spooled: Spooled, handle: FileHandle, start: number, end: number): Promise<void> {
    const key = keys.pack(spooled.pack);
    const stop = () => this.closed || spooled.dropped;
    if (!this.backend.getStream) {
      for (let at = start; at < end; at += GET_PIECE) {
        if (stop()) throw new Error('stopped');
        this.requests++;
        const bytes = await this.backend.get(key, { offset: at, length: Math.min(GET_PIECE, end - at) });
        this.bytesDownloaded += bytes.length;
        await writeFully(handle, bytes, at);
        this.written(spooled, at + bytes.length);
      }
      return;
    }
    this.requests++;
    const pieces = await this.backend.getStream(key, { offset: start, length: end - start });
    const gathered = Buffer.allocUnsafe(WRITE_BYTES);
    let fill = 0;
    let at = start;
    for await (const piece of pieces) {
      this.bytesDownloaded += piece.byteLength;
      let from = 0;
      while (from < piece.byteLength) {
        const n = Math.min(WRITE_BYTES - fill, piece.byteLength - from);
        gathered.set(piece.subarray(from, from + n), fill);
        fill += n;
        from += n;
        if (fill === WRITE_BYTES) {
          await writeFully(handle, gathered, at);
          at += fill;
          fill = 0;
          this.written(spooled, at);
        }
      }
      // Leaving the loop ends the GET (its body destroyed).
      if (stop()) break;
    }
    if (fill > 0) await writeFully(handle, gathered.subarray(0, fill), at);
    at += fill;
    if (at !== end) throw new Error(`pack ${spooled.pack}: ${at - start} of ${end - start} bytes`);
  }

  /** Bytes of the span being downloaded are written up to `at`: readers of them go on. */
  private written(spooled: Spooled, at: number): void {
    spooled.at = at;
    this.wake(spooled);
  }

  private wake(spooled: Spooled): void {
    const waiters = spooled.waiters;
    spooled.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private async drop(spooled: Spooled): Promise<void> {
    if (spooled.dropped) return;
    spooled.dropped = true;
    if (this.spooled.get(spooled.pack) === spooled) this.spooled.delete(spooled.pack);
    this.held -= spooled.needs.bytes;
    if (spooled.readers === 0) await this.remove(spooled);
  }

  /** The file of a pack let go, once its download has stopped. */
  private async remove(spooled: Spooled): Promise<void> {
    await spooled.ready;
    const handle = spooled.handle;
    spooled.handle = undefined;
    await handle?.close().catch(() => undefined);
    await fs.rm(spooled.file, { force: true }).catch(() => undefined);
  }
}

/** Spool folders of restores whose process is gone (killed): removed. */
async function removeAbandoned(parent: string): Promise<void> {
  for (const name of await fs.readdir(parent)) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length).split('-')[0]);
    if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid))) continue;
    await fs.rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
  }
}
