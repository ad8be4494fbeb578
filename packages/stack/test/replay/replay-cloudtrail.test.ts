import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilterPatternSyntaxError } from '../../src/filter-pattern/index.js';
import { ReplayError, readCloudTrailRecords, replayCloudTrail } from '../../src/replay/index.js';
import { loadLabelledRecords, realRecordsSkip, toBackupctlArn } from '../support/cloudtrail-records.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'backupctl-replay-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string | Buffer): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, content);
  return p;
}

const ACCOUNT = '123456789012';
function record(fields: {
  id: string;
  user?: string;
  arn?: string;
  account?: string;
  eventName?: string;
  errorCode?: string;
  type?: string;
  userName?: string | null;
}): Record<string, unknown> {
  const account = fields.account ?? ACCOUNT;
  const arn = fields.arn ?? `arn:aws:iam::${account}:user/backupctl/${fields.user ?? 'laptop'}`;
  const identity: Record<string, unknown> = { type: fields.type ?? 'IAMUser', arn, accountId: account };
  if (fields.userName !== null) identity.userName = fields.userName ?? fields.user ?? 'laptop';
  return {
    eventVersion: '1.08',
    eventID: fields.id,
    eventTime: '2026-11-23T10:00:00Z',
    eventSource: 's3.amazonaws.com',
    eventName: fields.eventName ?? 'GetObject',
    ...(fields.errorCode === undefined ? {} : { errorCode: fields.errorCode }),
    userIdentity: identity,
    recipientAccountId: account,
  };
}

// 5 records, 3 the guard counts.
const sample = [
  record({ id: 'e1', errorCode: 'AccessDenied' }),
  record({ id: 'e2' }),
  record({ id: 'e3', eventName: 'GetCallerIdentity', user: 'desk' }),
  record({ id: 'e4', errorCode: 'Client.UnauthorizedOperation', arn: `arn:aws:iam::${ACCOUNT}:user/alice` }),
  record({
    id: 'e5',
    eventName: 'DescribeInstances',
    errorCode: 'Client.UnauthorizedOperation',
    userName: null,
  }),
];
const recordsFile = JSON.stringify({ Records: sample });
const jsonLines = sample.map((r) => JSON.stringify(r)).join('\n');
const expectedIds = ['e1', 'e3', 'e5'];

const ids = (result: { matched: { eventID: string | null }[] }) => result.matched.map((m) => m.eventID);

describe('replayCloudTrail: formats', () => {
  it('a gzipped {"Records":[…]} file, as CloudTrail writes it to S3', async () => {
    const f = await file('111_CloudTrail_us-east-1_20261123T1000Z_abc.json.gz', gzipSync(recordsFile));
    const result = await replayCloudTrail([f]);
    expect(result.scanned).toBe(5);
    expect(ids(result)).toEqual(expectedIds);
    expect(result.matched.map((m) => m.location)).toEqual([1, 3, 5].map((i) => `${f}:1 Records[${i - 1}]`));
  });

  it('tells gzip by its magic bytes, not by the name', async () => {
    const gzNamedJson = await file('looks-plain.json', gzipSync(jsonLines));
    const plainNamedGz = await file('looks-gzipped.json.gz', recordsFile);
    expect(ids(await replayCloudTrail([gzNamedJson]))).toEqual(expectedIds);
    expect(ids(await replayCloudTrail([plainNamedGz]))).toEqual(expectedIds);
  });

  it('a plain, pretty-printed Records file', async () => {
    const f = await file('pretty.json', `\uFEFF\n  ${JSON.stringify({ Records: sample }, null, 2)}\n`);
    const result = await replayCloudTrail([f]);
    expect(result.scanned).toBe(5);
    expect(ids(result)).toEqual(expectedIds);
    expect(result.matched[1]!.location).toBe(`${f} Records[2]`);
  });

  it('JSON lines, with blank lines and CRLF; locations give the line', async () => {
    const f = await file('records.jsonl', `\r\n${sample.map((r) => JSON.stringify(r)).join('\r\n\r\n')}\r\n`);
    const result = await replayCloudTrail([f]);
    expect(result.scanned).toBe(5);
    expect(ids(result)).toEqual(expectedIds);
    expect(result.matched.map((m) => m.location)).toEqual([`${f}:2`, `${f}:6`, `${f}:10`]);
  });

  it('gzipped JSON lines, and a line that is a whole Records object', async () => {
    const f = await file(
      'mixed.jsonl.gz',
      gzipSync(`${JSON.stringify({ Records: sample.slice(0, 2) })}\n${jsonLines}`),
    );
    const result = await replayCloudTrail([f]);
    expect(result.scanned).toBe(7);
    expect(ids(result)).toEqual(['e1', ...expectedIds]);
    expect(result.matched[0]!.location).toBe(`${f}:1 Records[0]`);
  });

  it('a JSON array of records', async () => {
    const f = await file('array.json', JSON.stringify(sample));
    expect(ids(await replayCloudTrail([f]))).toEqual(expectedIds);
  });

  it('several files, in order, counted together; an empty Records file scans nothing', async () => {
    const a = await file('a.json', JSON.stringify({ Records: sample.slice(3) }));
    const b = await file('b.jsonl', jsonLines);
    const empty = await file('empty.json', '{"Records":[]}');
    const result = await replayCloudTrail([a, empty, b]);
    expect(result.scanned).toBe(7);
    expect(ids(result)).toEqual(['e5', ...expectedIds]);
  });

  it('an empty file holds no records', async () => {
    const f = await file('zero.jsonl', '');
    expect(await replayCloudTrail([f])).toEqual({ scanned: 0, matched: [] });
  });

  it('streams a large gzipped JSON-lines file (20,000 records, records over chunk boundaries)', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      lines.push(
        JSON.stringify(record({ id: `big-${i}`, errorCode: i % 1000 === 0 ? 'AccessDenied' : undefined })),
      );
    }
    const f = await file('big.jsonl.gz', gzipSync(lines.join('\n')));
    const result = await replayCloudTrail([f]);
    expect(result.scanned).toBe(20_000);
    expect(result.matched).toHaveLength(20);
    expect(result.matched[19]!.eventID).toBe('big-19000');
  });
});

describe('replayCloudTrail: what it reports', () => {
  it('eventID, eventName, errorCode, user, eventTime; user falls back to the ARN', async () => {
    const f = await file('report.jsonl', jsonLines);
    const { matched } = await replayCloudTrail([f]);
    expect(matched[0]).toEqual({
      eventID: 'e1',
      eventName: 'GetObject',
      errorCode: 'AccessDenied',
      user: 'laptop',
      eventTime: '2026-11-23T10:00:00Z',
      location: `${f}:1`,
    });
    expect(matched[1]).toMatchObject({ eventName: 'GetCallerIdentity', errorCode: null, user: 'desk' });
    // e5 has no userName: the user is the ARN's last segment.
    expect(matched[2]).toMatchObject({ eventID: 'e5', user: 'laptop' });
  });

  it("by default pins the guard to each record's own account (recipientAccountId)", async () => {
    const elsewhere = record({
      id: 'x1',
      errorCode: 'AccessDenied',
      arn: 'arn:aws:iam::210987654321:user/backupctl/laptop',
    });
    const noRecipient = record({ id: 'x2', errorCode: 'AccessDenied', account: '210987654321' });
    delete noRecipient.recipientAccountId;
    const f = await file('accounts.jsonl', [elsewhere, noRecipient].map((r) => JSON.stringify(r)).join('\n'));
    // x1: the user is from another account than the one whose trail recorded it.
    expect(ids(await replayCloudTrail([f]))).toEqual(['x2']);
    expect(ids(await replayCloudTrail([f], { accountId: '210987654321' }))).toEqual(['x1', 'x2']);
    expect(ids(await replayCloudTrail([f], { accountId: ACCOUNT }))).toEqual([]);
  });

  it('replays a custom pattern instead of the guard', async () => {
    const f = await file('custom.jsonl', jsonLines);
    expect(ids(await replayCloudTrail([f], { pattern: '{ $.errorCode = "Client.*" }' }))).toEqual([
      'e4',
      'e5',
    ]);
    expect(ids(await replayCloudTrail([f], { pattern: '{ $.errorCode NOT EXISTS }' }))).toEqual(['e2', 'e3']);
  });

  it('a bad custom pattern fails before reading any file', async () => {
    await expect(
      replayCloudTrail([path.join(dir, 'missing')], { pattern: '{ $.a = }' }),
    ).rejects.toBeInstanceOf(FilterPatternSyntaxError);
  });

  it.skipIf(realRecordsSkip !== undefined)(
    `over the real records: matches exactly the rewritten users’ denials and GetCallerIdentity calls${realRecordsSkip ? ` (skipped: ${realRecordsSkip})` : ''}`,
    async () => {
      const chosen = new Set([
        'arn:aws:iam::187901811700:user/exposed.user',
        'arn:aws:iam::123456789012:user/developer',
      ]);
      const labelled = loadLabelledRecords();
      for (const { record: r } of labelled) {
        const identity = r.userIdentity as Record<string, unknown> | undefined;
        if (typeof identity?.arn === 'string' && chosen.has(identity.arn))
          identity.arn = toBackupctlArn(identity.arn);
      }
      const expected = labelled
        .filter(({ meta }) => meta.arn !== null && chosen.has(meta.arn))
        .filter(({ meta }) => meta.class === 'authz_failure' || meta.eventName === 'GetCallerIdentity')
        .map(({ meta }) => meta.eventID);
      const f = await file(
        'real.json.gz',
        gzipSync(JSON.stringify({ Records: labelled.map((l) => l.record) })),
      );
      const result = await replayCloudTrail([f]);
      expect(result.scanned).toBe(1070);
      expect(expected.length).toBeGreaterThan(10);
      expect(ids(result)).toEqual(expected);
      expect(new Set(result.matched.map((m) => m.user))).toEqual(new Set(['exposed.user', 'developer']));
    },
  );
});

describe('replayCloudTrail: unreadable input says which file and line', () => {
  async function failure(files: string[]): Promise<ReplayError> {
    const error = await replayCloudTrail(files).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ReplayError);
    return error as ReplayError;
  }

  it('a missing file', async () => {
    const missing = path.join(dir, 'nope.json.gz');
    const error = await failure([missing]);
    expect(error.code).toBe('REPLAY_FILE_UNREADABLE');
    expect(error.file).toBe(missing);
    expect(error.message).toBe(`${missing}: no such file`);
  });

  it('a directory', async () => {
    const sub = path.join(dir, 'a-directory');
    await mkdir(sub, { recursive: true });
    const error = await failure([sub]);
    expect(error.code).toBe('REPLAY_FILE_UNREADABLE');
    expect(error.message).toContain('is a directory');
  });

  it.skipIf(process.getuid?.() === 0)('a file without read permission', async () => {
    const f = await file('secret.json', recordsFile);
    await chmod(f, 0o000);
    const error = await failure([f]);
    expect(error.code).toBe('REPLAY_FILE_UNREADABLE');
    expect(error.message).toContain('permission denied');
  });

  it('the second file of several is named', async () => {
    const good = await file('good.jsonl', jsonLines);
    const bad = await file('bad-second.jsonl', `${JSON.stringify(sample[0])}\n{"eventID": "e2",\n`);
    const error = await failure([good, bad]);
    expect(error.file).toBe(bad);
    expect(error.line).toBe(2);
  });

  it('a bad JSON line: file and line', async () => {
    const f = await file(
      'bad.jsonl',
      `${JSON.stringify(sample[0])}\n\n${JSON.stringify(sample[1])}\nnot json at all\n`,
    );
    const error = await failure([f]);
    expect(error.code).toBe('REPLAY_BAD_JSON');
    expect(error.line).toBe(4);
    expect(error.message).toMatch(
      new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: not valid JSON`),
    );
  });

  it('a bad JSON line inside gzip: the line of the decompressed text', async () => {
    const f = await file('bad.jsonl.gz', gzipSync(`${jsonLines}\n{oops}`));
    const error = await failure([f]);
    expect(error.code).toBe('REPLAY_BAD_JSON');
    expect(error.line).toBe(6);
  });

  it('a broken Records file: the line of the error', async () => {
    const pretty = JSON.stringify({ Records: sample }, null, 2).split('\n');
    pretty.splice(10, 0, '    "broken": ,');
    const f = await file('broken.json', pretty.join('\n'));
    const error = await failure([f]);
    expect(error.code).toBe('REPLAY_BAD_JSON');
    expect(error.line).toBe(11);
  });

  it('a truncated Records file', async () => {
    const f = await file('truncated.json', recordsFile.slice(0, 200));
    const error = await failure([f]);
    expect(error.code).toBe('REPLAY_BAD_JSON');
    expect(error.file).toBe(f);
  });

  it('a truncated gzip file', async () => {
    const gz = gzipSync(recordsFile);
    const f = await file('truncated.json.gz', gz.subarray(0, gz.length - 20));
    const error = await failure([f]);
    expect(error.code).toBe('REPLAY_BAD_GZIP');
    expect(error.message).toContain(f);
  });

  it('corrupt gzip data after the magic bytes', async () => {
    const f = await file(
      'corrupt.gz',
      Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(64, 0xff)]),
    );
    const error = await failure([f]);
    expect(error.code).toBe('REPLAY_BAD_GZIP');
  });

  it('JSON that is not CloudTrail records', async () => {
    const notArray = await file('records-not-array.json', '{"Records": {"eventID": "x"}}');
    expect((await failure([notArray])).code).toBe('REPLAY_BAD_RECORD');
    const notObject = await file('record-not-object.json', '{"Records": [{"eventID": "x"}, 42]}');
    const error = await failure([notObject]);
    expect(error.code).toBe('REPLAY_BAD_RECORD');
    expect(error.message).toContain('Records[1]');
    const line = await file('line-not-object.jsonl', `${JSON.stringify(sample[0])}\n"just a string"\n`);
    const lineError = await failure([line]);
    expect(lineError.code).toBe('REPLAY_BAD_RECORD');
    expect(lineError.line).toBe(2);
  });

  it('carries the backupctl error brand and a resolution', async () => {
    const error = await failure([path.join(dir, 'nope')]);
    expect((error as unknown as Record<symbol, unknown>)[Symbol.for('backupctl.error')]).toBe(true);
    expect(error.resolution).toMatch(/path/);
  });
});

describe('readCloudTrailRecords', () => {
  it('can be stopped early without reading the rest', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify(record({ id: `r${i}` })));
    const f = await file('early.jsonl', `${lines.join('\n')}\nbroken`);
    const seen: string[] = [];
    for await (const { record: r } of readCloudTrailRecords(f)) {
      seen.push(r.eventID as string);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(['r0', 'r1', 'r2']);
  });
});
