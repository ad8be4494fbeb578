import { readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusDir, corpusSkipReason, FIXTURES_DIR, REPO_ROOT } from '../../../../test/fixtures/corpus.js';

/** The repository root. */
export const repoRoot = REPO_ROOT;

/** The real CloudTrail corpus (shared/cloudtrail beside the repository, or BACKUPCTL_CORPUS_DIR). */
export const cloudtrailDir = corpusDir('cloudtrail');

/** Why the tests over the real corpus are skipped (undefined: they run; CI: throws). */
export const realRecordsSkip = corpusSkipReason('cloudtrail');

/** CloudTrail records of our own, in the same two files and form (test/fixtures/cloudtrail). */
export const fixtureCloudtrailDir = path.join(FIXTURES_DIR, 'cloudtrail');

export interface RecordMeta {
  line: number;
  eventID: string;
  eventSource: string;
  eventName: string;
  identityType: string | null;
  arn: string | null;
  userName: string | null;
  errorCode: string | null;
  class: 'success' | 'authz_failure' | 'other_error' | 'authn_failure' | 'console_login_failure';
  cis_pattern_match: boolean;
  quality: string[];
  flags: string[];
}

export interface LabelledRecord {
  meta: RecordMeta;
  record: Record<string, unknown>;
}

function readJsonLines(dir: string, file: string): unknown[] {
  return readFileSync(path.join(dir, file), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

const cache = new Map<string, LabelledRecord[]>();

/**
 * The labelled CloudTrail records of a folder (default: the 1,070 real ones), in file
 * order (fresh copies each call).
 */
export function loadLabelledRecords(dir = cloudtrailDir): LabelledRecord[] {
  let loaded = cache.get(dir);
  if (!loaded) {
    const records = readJsonLines(dir, 'records.jsonl') as Record<string, unknown>[];
    const metas = readJsonLines(dir, 'records.meta.jsonl') as RecordMeta[];
    if (records.length !== metas.length)
      throw new Error('records.jsonl and records.meta.jsonl differ in length');
    loaded = records.map((record, i) => ({ record, meta: metas[i]! }));
    cache.set(dir, loaded);
  }
  return structuredClone(loaded);
}

/** `arn:…:user/<path>name` → `arn:…:user/backupctl/name` (the user name is kept). */
export function toBackupctlArn(arn: string): string {
  const match = /^(arn:[^:]+:[^:]+::[^:]*:user\/)(?:.*\/)?([^/]+)$/.exec(arn);
  if (!match) throw new Error(`not an IAM user ARN: ${arn}`);
  return `${match[1]}backupctl/${match[2]}`;
}
