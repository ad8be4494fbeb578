import { type BigIntStats, constants, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { entryName, joinPath } from '../archive/entry-metadata.js';

/**
 * One folder as the walk needs it: its names in byte order and each entry's lstat, made
 * with plain blocking calls in one go (in the walker thread, dir-lister.ts, or on the
 * calling thread where no worker runs). The stats travel as one BigInt64Array (transferred,
 * not copied), STAT_FIELDS values per name; `ListedStat` reads them back as BigIntStats does.
 */
export interface Listing {
  /** The names as bytes held as latin1 text (one character per byte: lossless), sorted. */
  names: string[];
  /** STAT_FIELDS per name, in `FIELD` order; zero where `failures` has the name. */
  stats: BigInt64Array;
  /** Names whose lstat failed (vanished since the listing, no permission): by index. */
  failures?: Record<number, ListingFailure>;
  /** The folder itself could not be listed (then `names` is empty). */
  error?: ListingFailure;
  /**
   * Set for a folder of more than `eagerMax` names (listDir): `stats` is empty and each
   * entry is lstat'ed in this folder when asked for (listedStat), so a folder of a million
   * files costs no 72 MB array and no seconds of lstat before its walk starts.
   */
  lazyDir?: string | Buffer;
}

export interface ListingFailure {
  message: string;
  code?: string;
}

/** The lstat values the walk uses (the rest of BigIntStats it never reads). */
export type EntryStat = Pick<
  BigIntStats,
  | 'dev'
  | 'ino'
  | 'mode'
  | 'nlink'
  | 'uid'
  | 'gid'
  | 'size'
  | 'mtimeNs'
  | 'ctimeNs'
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
>;

const FIELD = { dev: 0, ino: 1, mode: 2, nlink: 3, uid: 4, gid: 5, size: 6, mtimeNs: 7, ctimeNs: 8 } as const;
export const STAT_FIELDS = 9;

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } = constants;

/** An entry's lstat read from a listing's array (bigints, as `lstat(…, { bigint: true })`). */
export class ListedStat implements EntryStat {
  constructor(
    private readonly values: BigInt64Array,
    private readonly at: number,
  ) {}
  // Unsigned in BigIntStats: device and inode numbers may use all 64 bits.
  get dev(): bigint {
    return BigInt.asUintN(64, this.values[this.at + FIELD.dev]!);
  }
  get ino(): bigint {
    return BigInt.asUintN(64, this.values[this.at + FIELD.ino]!);
  }
  get mode(): bigint {
    return this.values[this.at + FIELD.mode]!;
  }
  get nlink(): bigint {
    return this.values[this.at + FIELD.nlink]!;
  }
  get uid(): bigint {
    return this.values[this.at + FIELD.uid]!;
  }
  get gid(): bigint {
    return this.values[this.at + FIELD.gid]!;
  }
  get size(): bigint {
    return this.values[this.at + FIELD.size]!;
  }
  get mtimeNs(): bigint {
    return this.values[this.at + FIELD.mtimeNs]!;
  }
  get ctimeNs(): bigint {
    return this.values[this.at + FIELD.ctimeNs]!;
  }
  private type(): number {
    return Number(this.values[this.at + FIELD.mode]!) & S_IFMT;
  }
  isFile(): boolean {
    return this.type() === S_IFREG;
  }
  isDirectory(): boolean {
    return this.type() === S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.type() === S_IFLNK;
  }
}

/** The stat of entry `i` of a listing, or its failure as an Error (as lstat would have thrown). */
export function listedStat(listing: Listing, i: number): EntryStat | Error {
  if (listing.lazyDir !== undefined) {
    try {
      return lstatSync(childPath(listing.lazyDir, nameOf(listing.names[i]!)), { bigint: true });
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }
  const failure = listing.failures?.[i];
  if (failure !== undefined) return listingError(failure);
  return new ListedStat(listing.stats, i * STAT_FIELDS);
}

/** A failure of the listing as the Error the call made on this thread would have thrown. */
export function listingError(failure: ListingFailure): Error {
  const error = new Error(failure.message) as NodeJS.ErrnoException;
  if (failure.code !== undefined) error.code = failure.code;
  return error;
}

/**
 * Lists `dir` and lstat's every entry (no entry is followed: symlinks are stat'ed as links);
 * past `eagerMax` names the entries are left to be lstat'ed one by one (Listing.lazyDir).
 */
export function listDir(dir: string | Uint8Array, eagerMax = Number.POSITIVE_INFINITY): Listing {
  let names: string[];
  try {
    names = readdirSync(dir as string | Buffer, { encoding: 'latin1' });
  } catch (error) {
    return { names: [], stats: new BigInt64Array(0), error: failureOf(error) };
  }
  // Code-unit order of latin1 text is byte order (as Buffer.compare).
  names.sort();
  const base = typeof dir === 'string' ? dir : Buffer.from(dir.buffer, dir.byteOffset, dir.byteLength);
  if (names.length > eagerMax) return { names, stats: new BigInt64Array(0), lazyDir: base };
  const stats = new BigInt64Array(names.length * STAT_FIELDS);
  let failures: Record<number, ListingFailure> | undefined;
  for (let i = 0; i < names.length; i++) {
    let s: BigIntStats;
    try {
      s = lstatSync(childPath(base, nameOf(names[i]!)), { bigint: true });
    } catch (error) {
      failures ??= {};
      failures[i] = failureOf(error);
      continue;
    }
    const at = i * STAT_FIELDS;
    stats[at + FIELD.dev] = BigInt.asIntN(64, s.dev);
    stats[at + FIELD.ino] = BigInt.asIntN(64, s.ino);
    stats[at + FIELD.mode] = s.mode;
    stats[at + FIELD.nlink] = s.nlink;
    stats[at + FIELD.uid] = s.uid;
    stats[at + FIELD.gid] = s.gid;
    stats[at + FIELD.size] = s.size;
    stats[at + FIELD.mtimeNs] = s.mtimeNs;
    stats[at + FIELD.ctimeNs] = s.ctimeNs;
  }
  return failures === undefined ? { names, stats } : { names, stats, failures };
}

function failureOf(error: unknown): ListingFailure {
  const e = error as NodeJS.ErrnoException;
  return typeof e?.code === 'string'
    ? { message: String(e.message), code: e.code }
    : { message: error instanceof Error ? error.message : String(error) };
}

/** A name read as latin1 (one character per byte) as entryName has it: text when UTF-8, else bytes. */
export function nameOf(latin1: string): string | Buffer {
  return ASCII.test(latin1) ? latin1 : entryName(Buffer.from(latin1, 'latin1'));
}
const ASCII = /^[\x00-\x7f]*$/;

/** `dir/name` (as `joinPath`), without path.join's normalising: a name read from a folder holds no separator. */
export function childPath(dir: string | Buffer, name: string | Buffer): string | Buffer {
  if (typeof dir === 'string' && typeof name === 'string') {
    return dir.endsWith(path.sep) ? dir + name : dir + path.sep + name;
  }
  return joinPath(dir, name);
}
