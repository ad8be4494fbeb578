import type { FilterPattern } from '../filter-pattern/ast.js';
import { matchesFilterPattern } from '../filter-pattern/match-filter-pattern.js';
import { parseFilterPattern } from '../filter-pattern/parse-filter-pattern.js';
import { guardFilterPattern } from '../guard-pattern.js';
import { type CloudTrailRecord, readCloudTrailRecords } from './read-cloudtrail-records.js';

export interface ReplayOptions {
  /**
   * A CloudWatch Logs JSON filter pattern to replay instead of the guard's. Parsed
   * first: a bad one throws FilterPatternSyntaxError before any file is read.
   */
  pattern?: string;
  /**
   * Pin the guard's pattern to this account. Without it (and without `pattern`) each
   * record is tested with the guard's pattern pinned to that record's own account
   * (`recipientAccountId`, else `userIdentity.accountId`): what the guard deployed in
   * that account would have matched.
   */
  accountId?: string;
}

export interface ReplayMatch {
  eventID: string | null;
  eventName: string | null;
  errorCode: string | null;
  /** `userIdentity.userName`, else the last segment of `userIdentity.arn`. */
  user: string | null;
  eventTime: string | null;
  /** Where the record is: `file:line` (JSON lines) or `file Records[i]`. */
  location: string;
}

export interface ReplayResult {
  /** Records read, across all files. */
  scanned: number;
  /** The records the pattern matches, in file order. */
  matched: ReplayMatch[];
}

const ACCOUNT_ID = /^\d{12}$/;

/**
 * Replays CloudTrail files through the guard's metric filter (or `options.pattern`)
 * and reports which records it would have counted. Files are read one after another,
 * streamed; see readCloudTrailRecords for the accepted formats and the errors.
 */
export async function replayCloudTrail(
  files: readonly string[],
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const patternFor = patternChooser(options);
  let scanned = 0;
  const matched: ReplayMatch[] = [];
  for (const file of files) {
    for await (const { record, location } of readCloudTrailRecords(file)) {
      scanned++;
      if (matchesFilterPattern(patternFor(record), record)) matched.push(summarise(record, location));
    }
  }
  return { scanned, matched };
}

function patternChooser(options: ReplayOptions): (record: CloudTrailRecord) => FilterPattern {
  if (options.pattern !== undefined) {
    const fixed = parseFilterPattern(options.pattern);
    return () => fixed;
  }
  if (options.accountId !== undefined) {
    const fixed = parseFilterPattern(guardFilterPattern({ accountId: options.accountId }));
    return () => fixed;
  }
  const anyAccount = parseFilterPattern(guardFilterPattern());
  const byAccount = new Map<string, FilterPattern>();
  return (record) => {
    const account = accountOf(record);
    if (account === undefined) return anyAccount;
    let pattern = byAccount.get(account);
    if (!pattern) {
      pattern = parseFilterPattern(guardFilterPattern({ accountId: account }));
      byAccount.set(account, pattern);
    }
    return pattern;
  };
}

function accountOf(record: CloudTrailRecord): string | undefined {
  for (const candidate of [record.recipientAccountId, identityOf(record)?.accountId]) {
    if (typeof candidate === 'string' && ACCOUNT_ID.test(candidate)) return candidate;
  }
  return undefined;
}

function summarise(record: CloudTrailRecord, location: string): ReplayMatch {
  const identity = identityOf(record);
  const arn = stringOrNull(identity?.arn);
  return {
    eventID: stringOrNull(record.eventID),
    eventName: stringOrNull(record.eventName),
    errorCode: stringOrNull(record.errorCode),
    user: stringOrNull(identity?.userName) ?? (arn === null ? null : (arn.split(/[/:]/).pop() ?? null)),
    eventTime: stringOrNull(record.eventTime),
    location,
  };
}

function identityOf(record: CloudTrailRecord): Record<string, unknown> | undefined {
  const identity = record.userIdentity;
  return typeof identity === 'object' && identity !== null && !Array.isArray(identity)
    ? (identity as Record<string, unknown>)
    : undefined;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
