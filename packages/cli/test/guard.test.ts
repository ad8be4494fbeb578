import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { renderDevicePolicy } from '@backupctl/core';
import {
  DEFAULT_TRAIL_LOG_GROUP,
  deviceStackTemplate,
  guardTemplate,
  replayCloudTrail,
} from '@backupctl/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusDir, corpusSkipReason, FIXTURES_DIR } from '../../../test/fixtures/corpus.js';
import { assertBuilt, runCli } from './support/cli.js';

const ACCOUNT = '123456789012';
const REAL_RECORDS = path.join(corpusDir('cloudtrail'), 'records.jsonl');
const realRecordsSkip = corpusSkipReason('cloudtrail');
/** CloudTrail records of our own (test/fixtures/cloudtrail), always there. */
const FIXTURE_RECORDS = path.join(FIXTURES_DIR, 'cloudtrail', 'records.jsonl');

interface ErrorDocument {
  error: { code: string; message: string; resolution?: string };
  exitCode: number;
}

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(tmpdir(), 'backupctl-guard-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('guard policy', () => {
  it('prints the policy generated from the access manifest, the same with or without --json', async () => {
    const expected = renderDevicePolicy({ bucket: 'my-backups', device: 'laptop' });
    const human = await runCli(['guard', 'policy', '--bucket', 'my-backups', '--device', 'laptop']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toBe(expected);
    const json = await runCli(['guard', 'policy', '--bucket', 'my-backups', '--device', 'laptop', '--json']);
    expect(json.code).toBe(0);
    expect(json.stdout).toBe(expected);
    // Sanity on what it says: allows only, and only on this bucket / device prefix.
    const policy = json.json<{ Statement: Array<{ Effect: string; Resource: string }> }>();
    for (const s of policy.Statement) {
      expect(s.Effect).toBe('Allow');
      expect(['arn:aws:s3:::my-backups', 'arn:aws:s3:::my-backups/devices/laptop/*']).toContain(s.Resource);
    }
  });

  it('--account and --partition reach the generator', async () => {
    const r = await runCli([
      'guard',
      'policy',
      '--bucket',
      'my-backups',
      '--device',
      'laptop',
      '--account',
      ACCOUNT,
      '--partition',
      'aws-cn',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      renderDevicePolicy({ bucket: 'my-backups', device: 'laptop', accountId: ACCOUNT, partition: 'aws-cn' }),
    );
    const policy = r.json<{ Statement: Array<{ Resource: string; Condition?: Record<string, unknown> }> }>();
    for (const s of policy.Statement) {
      expect(s.Resource.startsWith('arn:aws-cn:s3:::my-backups')).toBe(true);
      expect(s.Condition?.StringEquals).toMatchObject({ 's3:ResourceAccount': ACCOUNT });
    }
  });

  // (A bad bucket name takes the same path; the generator's own tests cover each rule.)
  it.each([
    [['--bucket', 'my-backups', '--device', 'a/../b'], /invalid device name/],
    [['--bucket', 'my-backups', '--device', 'laptop', '--account', '12'], /account id/],
  ])('a bad name is a usage error (exit 2): %j', async (args, message) => {
    const r = await runCli(['guard', 'policy', ...args, '--json']);
    expect(r.code).toBe(2);
    const doc = r.json<ErrorDocument>();
    expect(doc).toMatchObject({ exitCode: 2, error: { code: 'USAGE' } });
    expect(doc.error.message).toMatch(message);
  });

  it('--bucket and --device are required (exit 2)', async () => {
    const r = await runCli(['guard', 'policy', '--bucket', 'my-backups']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Missing required flag device/);
  });
});

describe('guard template', () => {
  it('prints {"guard", "device"}: the stack library\'s templates for these flags', async () => {
    const r = await runCli([
      'guard',
      'template',
      '--bucket',
      'my-backups',
      '--device',
      'laptop',
      '--account',
      ACCOUNT,
      '--email',
      'owner@example.com',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const doc = r.json<{ guard: unknown; device: unknown }>();
    expect(Object.keys(doc)).toEqual(['guard', 'device']);
    expect(doc.guard).toEqual(
      guardTemplate({
        notificationEmail: 'owner@example.com',
        trailLogGroupName: DEFAULT_TRAIL_LOG_GROUP,
      }),
    );
    expect(doc.device).toEqual(
      deviceStackTemplate({ bucket: 'my-backups', device: 'laptop', accountId: ACCOUNT }),
    );
    // The device's policy inside the template is the one `guard policy` prints.
    expect(JSON.stringify(doc.device)).toContain('arn:aws:s3:::my-backups/devices/laptop/*');
  });

  it('--out writes guard.template.json and device.template.json', async () => {
    const out = path.join(dir, 'cfn');
    const r = await runCli([
      'guard',
      'template',
      '--bucket',
      'my-backups',
      '--device',
      'laptop',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{
      files: Array<{ kind: string; stackName: string; file: string }>;
      warnings: string[];
    }>();
    expect(doc.files).toEqual([
      { kind: 'guard', stackName: 'backupctl-guard', file: path.join(out, 'guard.template.json') },
      {
        kind: 'device',
        stackName: 'backupctl-device-backupctl-laptop',
        file: path.join(out, 'device.template.json'),
      },
    ]);
    expect(doc.warnings).toEqual([]);
    expect(JSON.parse(await readFile(path.join(out, 'guard.template.json'), 'utf8'))).toEqual(
      guardTemplate({ trailLogGroupName: DEFAULT_TRAIL_LOG_GROUP }),
    );
    expect(JSON.parse(await readFile(path.join(out, 'device.template.json'), 'utf8'))).toEqual(
      deviceStackTemplate({ bucket: 'my-backups', device: 'laptop' }),
    );
  });

  it('without --bucket/--device it uses visible placeholders and warns', async () => {
    const r = await runCli(['guard', 'template']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*placeholder.*do not deploy/m);
    expect(JSON.stringify(r.json())).toContain('example-backup-bucket/devices/example-device/');
  });
});

describe('guard replay', () => {
  const deviceUser = (userName: string, extra: Record<string, unknown>) => ({
    eventVersion: '1.08',
    userIdentity: {
      type: 'IAMUser',
      principalId: 'AIDAEXAMPLE',
      arn: `arn:aws:iam::${ACCOUNT}:user/backupctl/${userName}`,
      accountId: ACCOUNT,
      userName,
    },
    eventTime: '2026-11-20T10:00:00Z',
    awsRegion: 'us-east-1',
    sourceIPAddress: '203.0.113.9',
    userAgent: 'aws-cli/2.9.19',
    recipientAccountId: ACCOUNT,
    ...extra,
  });
  const records = [
    deviceUser('backupctl-laptop', {
      eventID: 'e1',
      eventSource: 's3.amazonaws.com',
      eventName: 'GetObject',
      errorCode: 'AccessDenied',
      errorMessage: 'Access Denied',
    }),
    deviceUser('backupctl-laptop', {
      eventID: 'e2',
      eventSource: 'sts.amazonaws.com',
      eventName: 'GetCallerIdentity',
    }),
    deviceUser('backupctl-laptop', {
      eventID: 'e3',
      eventSource: 's3.amazonaws.com',
      eventName: 'PutObject',
    }),
    {
      ...deviceUser('alice', {
        eventID: 'e4',
        eventName: 'DescribeInstances',
        errorCode: 'Client.UnauthorizedOperation',
      }),
      userIdentity: {
        type: 'IAMUser',
        arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
        accountId: ACCOUNT,
        userName: 'alice',
      },
    },
  ];
  const expectedMatches = [
    {
      eventID: 'e1',
      eventName: 'GetObject',
      errorCode: 'AccessDenied',
      user: 'backupctl-laptop',
      eventTime: '2026-11-20T10:00:00Z',
    },
    {
      eventID: 'e2',
      eventName: 'GetCallerIdentity',
      errorCode: null,
      user: 'backupctl-laptop',
      eventTime: '2026-11-20T10:00:00Z',
    },
  ];

  it('--json is exactly {scanned, matched:[{eventID,eventName,errorCode,user,eventTime}]}', async () => {
    const file = path.join(dir, `${ACCOUNT}_CloudTrail_us-east-1_x.json.gz`);
    await writeFile(file, gzipSync(JSON.stringify({ Records: records })));
    const r = await runCli(['guard', 'replay', '--json', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toStrictEqual({ scanned: 4, matched: expectedMatches });
  });

  it('human output lists time, user, event and error of each match, and the count', async () => {
    const file = path.join(dir, 'events.jsonl');
    await writeFile(file, `${records.map((x) => JSON.stringify(x)).join('\n')}\n`);
    const r = await runCli(['guard', 'replay', file]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+USER\s+EVENT\s+ERROR/);
    expect(lines[1]).toMatch(
      /^2026-11-20T10:00:00Z\s+backupctl-laptop\s+GetObject\s+AccessDenied\s+.*events\.jsonl:1$/,
    );
    expect(lines[2]).toMatch(
      /^2026-11-20T10:00:00Z\s+backupctl-laptop\s+GetCallerIdentity\s+-\s+.*events\.jsonl:2$/,
    );
    expect(lines.at(-1)).toBe("2 of 4 record(s) match the guard's pattern");
  });

  async function agreesWithLibrary(file: string, count: number): Promise<void> {
    const pattern = '{ $.errorCode = "*AccessDenied*" || $.errorCode = "*UnauthorizedOperation" }';
    const r = await runCli(['guard', 'replay', '--json', '--pattern', pattern, file]);
    expect(r.code, r.stderr).toBe(0);
    const library = await replayCloudTrail([file], { pattern });
    const doc = r.json<{ scanned: number; matched: unknown[] }>();
    expect(doc.scanned).toBe(count);
    expect(doc.matched.length).toBeGreaterThan(0);
    expect(doc).toStrictEqual({
      scanned: library.scanned,
      matched: library.matched.map(({ location: _location, ...rest }) => rest),
    });
  }

  it('agrees with the library on CloudTrail records of our own, with a custom --pattern', async () => {
    await agreesWithLibrary(FIXTURE_RECORDS, 18);
  });

  it.skipIf(realRecordsSkip !== undefined)(
    `agrees with the library on the 1,070 real CloudTrail records, with a custom --pattern${realRecordsSkip ? ` (skipped: ${realRecordsSkip})` : ''}`,
    async () => {
      await agreesWithLibrary(REAL_RECORDS, 1070);
    },
  );

  it('no match is still exit 0', async () => {
    const file = path.join(dir, 'quiet.json');
    await writeFile(file, JSON.stringify({ Records: [records[2]] }));
    const r = await runCli(['guard', 'replay', '--json', file]);
    expect(r.code).toBe(0);
    expect(r.json()).toStrictEqual({ scanned: 1, matched: [] });
  });

  it('a bad pattern or --account is a usage error (exit 2) before any file is read', async () => {
    const r = await runCli([
      'guard',
      'replay',
      '--json',
      '--pattern',
      '{ $.eventName = ',
      path.join(dir, 'missing'),
    ]);
    expect(r.code).toBe(2);
    const doc = r.json<ErrorDocument>();
    expect(doc).toMatchObject({ exitCode: 2, error: { code: 'FILTER_PATTERN_SYNTAX' } });
    expect(doc.error.resolution).toBeTruthy();
    const account = await runCli(['guard', 'replay', '--json', '--account', '1234', FIXTURE_RECORDS]);
    expect(account.code).toBe(2);
    expect(account.json<ErrorDocument>()).toMatchObject({ exitCode: 2, error: { code: 'USAGE' } });
  });

  it('a missing file or a file that is not CloudTrail exits 1 naming the file', async () => {
    const missing = await runCli(['guard', 'replay', '--json', path.join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    const doc = missing.json<ErrorDocument>();
    expect(doc.error.code).toBe('REPLAY_FILE_UNREADABLE');
    expect(doc.error.message).toContain('nope.json');

    const garbage = path.join(dir, 'garbage.jsonl');
    await writeFile(garbage, '{"eventID":"ok"}\nthis is not json\n');
    const bad = await runCli(['guard', 'replay', garbage]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*garbage\.jsonl:2/m);
    expect(bad.stderr).toMatch(/^ {2}next: /m);
  });

  it('no FILE is a usage error (exit 2)', async () => {
    const r = await runCli(['guard', 'replay']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Missing 1 required arg/);
  });
});
