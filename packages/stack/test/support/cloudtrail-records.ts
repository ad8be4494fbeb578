import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (packages/stack/test/support → four levels up). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** shared/cloudtrail beside the repository (CI checks shared/ out next to it). */
export const cloudtrailDir = path.resolve(repoRoot, '..', 'shared', 'cloudtrail');

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

function readJsonLines(file: string): unknown[] {
  return readFileSync(path.join(cloudtrailDir, file), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

let cache: LabelledRecord[] | undefined;

/** The 1,070 real CloudTrail records with their labels, in file order (fresh copies each call). */
export function loadLabelledRecords(): LabelledRecord[] {
  if (!cache) {
    const records = readJsonLines('records.jsonl') as Record<string, unknown>[];
    const metas = readJsonLines('records.meta.jsonl') as RecordMeta[];
    if (records.length !== metas.length)
      throw new Error('records.jsonl and records.meta.jsonl differ in length');
    cache = records.map((record, i) => ({ record, meta: metas[i]! }));
  }
  return structuredClone(cache);
}

/** `arn:…:user/<path>name` → `arn:…:user/backupctl/name` (the user name is kept). */
export function toBackupctlArn(arn: string): string {
  const match = /^(arn:[^:]+:[^:]+::[^:]*:user\/)(?:.*\/)?([^/]+)$/.exec(arn);
  if (!match) throw new Error(`not an IAM user ARN: ${arn}`);
  return `${match[1]}backupctl/${match[2]}`;
}
