import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * What Node's utimes/futimes/lutimes can set. They take seconds as a double; libuv before
 * 1.52 (Node 20 has 1.46) truncates that to the microsecond (uv__fs_to_timespec), libuv 1.52
 * (Node 24) keeps the nanoseconds the double holds — exact for small times, within about
 * 120 ns for current dates (a double near 1.7e9 s is spaced 238 ns apart).
 */
export type UtimePrecision = 'microsecond' | 'double';

let probed: UtimePrecision | undefined;

/**
 * Asked of the runtime once per thread, by setting a time on a scratch file: a version
 * number would say what libuv was built from, not what this build does. Any failure (an
 * unwritable temporary folder, a filesystem with coarse times) answers 'microsecond',
 * the mode that is right everywhere.
 */
export function utimePrecision(): UtimePrecision {
  if (probed !== undefined) return probed;
  let dir: string | undefined;
  try {
    dir = mkdtempSync(path.join(os.tmpdir(), 'backupctl-utime-'));
    const file = path.join(dir, 'probe');
    writeFileSync(file, '');
    utimesSync(file, '1.0000007005' as unknown as number, '1.0000007005' as unknown as number);
    probed = statSync(file, { bigint: true }).mtimeNs % 1000n === 0n ? 'microsecond' : 'double';
  } catch {
    probed = 'microsecond';
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
  return probed;
}

/**
 * The time argument for utimes/futimes/lutimes that lands as close as the runtime allows to
 * `mtimeNs`. Node (lib/internal/fs/utils.js) turns any *negative number* into "now", so the
 * time is passed as a numeric string, which it accepts unchanged. libuv truncates toward zero
 * (to the microsecond, or to the nanosecond on libuv 1.52); half a unit away from zero makes
 * that truncation land on the right unit despite the double's rounding. With 'microsecond'
 * the result is the microsecond at or below the stored time (floor, also before 1970).
 */
export function utimeArg(mtimeNs: string, precision: UtimePrecision = utimePrecision()): string {
  if (WHOLE_SECONDS_AND_MORE.test(mtimeNs)) {
    // At least one second after 1970 (every real file): the digits cut in place, no BigInt.
    const seconds = mtimeNs.slice(0, -9);
    return precision === 'microsecond'
      ? `${seconds}.${mtimeNs.slice(-9, -3)}5`
      : `${seconds}.${mtimeNs.slice(-9)}5`;
  }
  const ns = BigInt(mtimeNs);
  let units = ns;
  let digits = 9;
  if (precision === 'microsecond') {
    units = ns / 1000n;
    if (ns < 0n && ns % 1000n !== 0n) units -= 1n;
    digits = 6;
  }
  const tenths = units * 10n + (units >= 0n ? 5n : -5n);
  const negative = tenths < 0n;
  const abs = negative ? -tenths : tenths;
  const scale = 10n ** BigInt(digits + 1);
  return `${negative ? '-' : ''}${abs / scale}.${(abs % scale).toString().padStart(digits + 1, '0')}`;
}

/** A plain count of nanoseconds of one second or more (no sign, no leading zero). */
const WHOLE_SECONDS_AND_MORE = /^[1-9][0-9]{9,}$/;

/** The microsecond below a nanosecond time (floor, also before 1970). */
export function microseconds(ns: bigint): bigint {
  let us = ns / 1000n;
  if (ns < 0n && ns % 1000n !== 0n) us -= 1n;
  return us;
}

/**
 * Whether a file's mtime is what restore sets for `storedNs` (so an earlier restore wrote
 * it): the same microsecond, or, where the runtime keeps nanoseconds, within a microsecond.
 */
export function isRestoredTime(actualNs: bigint, storedNs: bigint): boolean {
  if (microseconds(actualNs) === microseconds(storedNs)) return true;
  const diff = actualNs - storedNs;
  return diff > -1000n && diff < 1000n;
}
