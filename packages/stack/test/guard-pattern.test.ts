import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TRIPWIRE_CALLS } from '@backupctl/core';
import { describe, expect, it } from 'vitest';
import { matchesFilterPattern, parseFilterPattern } from '../src/filter-pattern/index.js';
import {
  FILTER_PATTERN_MAX_LENGTH,
  GUARD_METRIC_DIMENSIONS,
  GUARD_METRIC_NAME,
  GUARD_METRIC_NAMESPACE,
  guardFilterPattern,
  guardFilterPatternSub,
  pinnedGuardFilterPattern,
} from '../src/guard-pattern.js';
import {
  fixtureCloudtrailDir,
  type LabelledRecord,
  loadLabelledRecords,
  realRecordsSkip,
  repoRoot,
  toBackupctlArn,
} from './support/cloudtrail-records.js';

const guard = parseFilterPattern(guardFilterPattern());

function identityOf(record: Record<string, unknown>): Record<string, unknown> | undefined {
  const identity = record.userIdentity;
  return typeof identity === 'object' && identity !== null
    ? (identity as Record<string, unknown>)
    : undefined;
}

/**
 * The README's method: move the chosen users (by ARN, so a namesake in another account
 * stays out) into the IAM path /backupctl/, keeping their userName.
 */
function rewriteUsers(records: LabelledRecord[], chosenArns: ReadonlySet<string>): LabelledRecord[] {
  for (const { record } of records) {
    const identity = identityOf(record);
    if (typeof identity?.arn === 'string' && chosenArns.has(identity.arn))
      identity.arn = toBackupctlArn(identity.arn);
  }
  return records;
}

const matchedLines = (records: LabelledRecord[], pattern = guard): number[] =>
  records.filter(({ record }) => matchesFilterPattern(pattern, record)).map(({ meta }) => meta.line);

// Chosen to cover: a real account's AssumeRole denials (christophe@457448411975), a real
// GetCallerIdentity (christophe@070411556318), denials + GetCallerIdentity + successes
// (exposed.user), denials + other errors + successes (developer), console-invoked
// denials with session context and failed console logins (tester), GetCallerIdentity
// only (compromised-user), and an IAM user whose records lack userName (testuser).
const CHOSEN = new Set([
  'arn:aws:iam::457448411975:user/christophe',
  'arn:aws:iam::070411556318:user/christophe',
  'arn:aws:iam::187901811700:user/exposed.user',
  'arn:aws:iam::123456789012:user/developer',
  'arn:aws:iam::123456789012:user/tester',
  'arn:aws:iam::123456789012:user/compromised-user',
  'arn:aws:iam::111111111111:user/testuser',
]);

describe.skipIf(realRecordsSkip !== undefined)(
  `guard pattern over the real CloudTrail records (shared/cloudtrail)${realRecordsSkip ? ` (skipped: ${realRecordsSkip})` : ''}`,
  () => {
    it('loads all 1,070 records with their labels', () => {
      const records = loadLabelledRecords();
      expect(records).toHaveLength(1070);
      for (const { meta, record } of records) expect(record.eventID ?? meta.eventID).toBe(meta.eventID);
    });

    it('no record matches as collected: nobody is under /backupctl/', () => {
      expect(matchedLines(loadLabelledRecords())).toEqual([]);
    });

    it("matches exactly the chosen users' authorization failures and GetCallerIdentity calls", () => {
      const records = rewriteUsers(loadLabelledRecords(), CHOSEN);
      const expected = records
        .filter(({ meta }) => meta.arn !== null && CHOSEN.has(meta.arn))
        .filter(({ meta }) => meta.class === 'authz_failure' || meta.eventName === 'GetCallerIdentity')
        .map(({ meta }) => meta.line);

      // The selection is not vacuous: every kind of positive is there.
      const byLine = new Map(records.map((r) => [r.meta.line, r.meta]));
      const kinds = expected.map((line) => byLine.get(line)!);
      expect(kinds.filter((m) => m.class === 'authz_failure').length).toBeGreaterThanOrEqual(15);
      expect(kinds.filter((m) => m.eventName === 'GetCallerIdentity').length).toBeGreaterThanOrEqual(5);
      expect(kinds.some((m) => m.quality.includes('real'))).toBe(true);
      expect(kinds.some((m) => m.userName === null)).toBe(true);

      expect(matchedLines(records)).toEqual(expected);
    });

    it("leaves out the chosen users' successes, other errors and failed console logins", () => {
      const records = rewriteUsers(loadLabelledRecords(), CHOSEN);
      const others = records.filter(
        ({ meta }) =>
          meta.arn !== null &&
          CHOSEN.has(meta.arn) &&
          meta.class !== 'authz_failure' &&
          meta.eventName !== 'GetCallerIdentity',
      );
      expect(new Set(others.map(({ meta }) => meta.class))).toEqual(
        new Set(['success', 'other_error', 'console_login_failure']),
      );
      expect(matchedLines(others)).toEqual([]);
    });

    it("leaves out other users' failures: a namesake in another account, roles, root, federated users", () => {
      const records = rewriteUsers(loadLabelledRecords(), CHOSEN);
      const others = records.filter(({ meta }) => meta.arn === null || !CHOSEN.has(meta.arn));
      const failures = others.filter(({ meta }) => meta.class === 'authz_failure');
      expect(failures.length).toBeGreaterThan(50);
      expect(failures.some(({ meta }) => meta.arn === 'arn:aws:iam::321848314756:user/christophe')).toBe(
        true,
      );
      expect(new Set(failures.map(({ meta }) => meta.errorCode))).toEqual(
        new Set([
          'AccessDenied',
          'Client.UnauthorizedOperation',
          'UnauthorizedOperation',
          'VpceAccessDenied',
        ]),
      );
      expect(
        others.some(
          ({ meta }) => meta.eventName === 'GetCallerIdentity' && meta.identityType === 'AssumedRole',
        ),
      ).toBe(true);
      expect(matchedLines(others)).toEqual([]);
    });

    it('pinned to an account, it matches only the backupctl users of that account', () => {
      const records = rewriteUsers(loadLabelledRecords(), CHOSEN);
      const pinned = parseFilterPattern(guardFilterPattern({ accountId: '123456789012' }));
      const expected = matchedLines(records).filter(
        (line) => records[line - 1]!.meta.arn?.startsWith('arn:aws:iam::123456789012:') === true,
      );
      expect(expected.length).toBeGreaterThan(5);
      expect(matchedLines(records, pinned)).toEqual(expected);
    });

    // Every real errorCode spelling, on a backupctl user: the records' own class decides.
    it('catches every authorization-failure spelling in the records and no other error, on a backupctl user', () => {
      const backupctlUser = {
        type: 'IAMUser',
        principalId: 'AIDAEXAMPLEEXAMPLE01',
        arn: 'arn:aws:iam::123456789012:user/backupctl/laptop-1',
        accountId: '123456789012',
        accessKeyId: 'AKIAEXAMPLEEXAMPLE01',
        userName: 'laptop-1',
      };
      const transplanted = loadLabelledRecords().map(({ meta, record }) => ({
        meta,
        record: { ...record, userIdentity: backupctlUser },
      }));
      const expected = transplanted
        .filter(
          ({ meta }) =>
            meta.class === 'authz_failure' ||
            meta.eventName === 'GetCallerIdentity' ||
            meta.eventName === 'GetSessionToken',
        )
        .map(({ meta }) => meta.line);
      // The collection holds real GetSessionToken calls: they count as tripwires too.
      expect(transplanted.filter(({ meta }) => meta.eventName === 'GetSessionToken').length).toBeGreaterThan(
        0,
      );
      expect(matchedLines(transplanted)).toEqual(expected);
      // Failed console logins, expired tokens and ordinary errors stay out.
      const missed = transplanted.filter(
        ({ meta }) => meta.class !== 'success' && meta.class !== 'authz_failure',
      );
      expect(missed.length).toBeGreaterThan(30);
      expect(matchedLines(missed)).toEqual([]);
    });
  },
);

describe.skipIf(realRecordsSkip !== undefined)(
  `guard pattern: the evaluator agrees with the collection’s own CIS labels${realRecordsSkip ? ` (skipped: ${realRecordsSkip})` : ''}`,
  () => {
    // CIS AWS Foundations "unauthorized API calls" metric filter; records.meta.jsonl's
    // `cis_pattern_match` was computed independently of this code.
    it('the CIS pattern matches exactly the records labelled cis_pattern_match', () => {
      const cis = parseFilterPattern(
        '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }',
      );
      const records = loadLabelledRecords();
      const expected = records.filter(({ meta }) => meta.cis_pattern_match).map(({ meta }) => meta.line);
      expect(expected.length).toBeGreaterThan(50);
      expect(matchedLines(records, cis)).toEqual(expected);
    });
  },
);

describe('guard pattern over CloudTrail records of our own (test/fixtures/cloudtrail)', () => {
  const load = () => loadLabelledRecords(fixtureCloudtrailDir);
  const chosen = new Set(['arn:aws:iam::210987654321:user/laptop', 'arn:aws:iam::210987654321:user/desk']);
  const tripwire = (eventName: string) => TRIPWIRE_CALLS.some((c) => c.eventName === eventName);

  it('no record matches as written: nobody is under /backupctl/', () => {
    expect(load()).toHaveLength(18);
    expect(matchedLines(load())).toEqual([]);
  });

  it("matches exactly the chosen users' authorization failures and tripwire calls", () => {
    const records = rewriteUsers(load(), chosen);
    const expected = records
      .filter(({ meta }) => meta.arn !== null && chosen.has(meta.arn))
      .filter(({ meta }) => meta.class === 'authz_failure' || tripwire(meta.eventName))
      .map(({ meta }) => meta.line);
    // Every spelling is there (AccessDenied, AccessDeniedException, VpceAccessDenied, both
    // EC2 ones), GetCallerIdentity, and a GetSessionToken that failed (still a tripwire).
    expect(expected).toEqual([2, 3, 4, 6, 7, 8, 9, 10, 18]);
    expect(matchedLines(records)).toEqual(expected);
  });

  it('leaves out a namesake in another account, other users, roles, root, and errors that are not denials', () => {
    const matched = new Set(matchedLines(rewriteUsers(load(), chosen)));
    for (const { meta } of load()) {
      const chosenUser = meta.arn !== null && chosen.has(meta.arn);
      const counts = meta.class === 'authz_failure' || tripwire(meta.eventName);
      expect(matched.has(meta.line), `line ${meta.line}`).toBe(chosenUser && counts);
    }
  });

  it('the CIS pattern matches exactly the records labelled cis_pattern_match', () => {
    const cis = parseFilterPattern(
      '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }',
    );
    const records = load();
    const expected = records.filter(({ meta }) => meta.cis_pattern_match).map(({ meta }) => meta.line);
    expect(expected.length).toBeGreaterThan(5);
    expect(matchedLines(records, cis)).toEqual(expected);
  });
});

describe('guard pattern: the ARN test', () => {
  const denied = (arn: string, type = 'IAMUser') => ({
    eventName: 'PutObject',
    errorCode: 'AccessDenied',
    userIdentity: { type, arn, accountId: '123456789012', userName: arn.split('/').pop() },
  });

  it.each([
    'arn:aws:iam::123456789012:user/backupctl/laptop',
    'arn:aws-cn:iam::123456789012:user/backupctl/laptop',
    'arn:aws-us-gov:iam::123456789012:user/backupctl/laptop',
    'arn:aws:iam::123456789012:user/backupctl/fleet-a/laptop',
  ])('matches %s (any partition, paths below /backupctl/)', (arn) => {
    expect(matchesFilterPattern(guard, denied(arn))).toBe(true);
    expect(matchesFilterPattern(guardFilterPattern({ accountId: '123456789012' }), denied(arn))).toBe(true);
  });

  it.each([
    'arn:aws:iam::123456789012:user/laptop',
    'arn:aws:iam::123456789012:user/backupctl-evil/laptop',
    'arn:aws:iam::123456789012:user/notbackupctl/laptop',
    'arn:aws:iam::123456789012:user/other/backupctl/laptop',
    'arn:aws:iam::123456789012:user/backupctl',
    'arn:aws:iam::123456789012:user/BACKUPCTL/laptop',
    'arn:aws:iam::123456789012:role/backupctl/laptop',
    'arn:aws:sts::123456789012:assumed-role/backupctl/laptop',
    'arn:aws:iam::123456789012:group/backupctl/laptop',
  ])('does not match %s', (arn) => {
    expect(matchesFilterPattern(guard, denied(arn))).toBe(false);
  });

  it('wants the IAMUser identity type as well as the ARN', () => {
    expect(
      matchesFilterPattern(guard, denied('arn:aws:iam::123456789012:user/backupctl/laptop', 'AssumedRole')),
    ).toBe(false);
  });

  it('pinned to an account, other accounts do not match', () => {
    const pinned = guardFilterPattern({ accountId: '123456789012' });
    expect(matchesFilterPattern(pinned, denied('arn:aws:iam::210987654321:user/backupctl/laptop'))).toBe(
      false,
    );
  });

  it('needs the ARN: an IAM user record without userIdentity.arn does not match', () => {
    expect(
      matchesFilterPattern(guard, {
        eventName: 'GetCallerIdentity',
        userIdentity: { type: 'IAMUser', userName: 'laptop' },
      }),
    ).toBe(false);
  });
});

describe('guard pattern: errors and events', () => {
  const event = (fields: Record<string, unknown>) => ({
    userIdentity: {
      type: 'IAMUser',
      arn: 'arn:aws:iam::123456789012:user/backupctl/laptop',
      userName: 'laptop',
    },
    eventName: 'GetObject',
    ...fields,
  });

  it.each([
    'AccessDenied',
    'AccessDeniedException',
    'VpceAccessDenied',
    'Client.UnauthorizedOperation',
    'UnauthorizedOperation',
  ])('errorCode %s matches', (errorCode) => {
    expect(matchesFilterPattern(guard, event({ errorCode }))).toBe(true);
  });

  it.each([
    'NoSuchKey',
    'Client.DryRunOperation',
    'InvalidClientTokenId',
    'ExpiredToken',
    'SignatureDoesNotMatch',
    'accessdenied',
    '',
  ])('errorCode %j does not match', (errorCode) => {
    expect(matchesFilterPattern(guard, event({ errorCode }))).toBe(false);
  });

  it('GetSessionToken is a tripwire like GetCallerIdentity (it cannot be denied either)', () => {
    for (const { eventName } of TRIPWIRE_CALLS) {
      expect(matchesFilterPattern(guard, event({ eventName, eventSource: 'sts.amazonaws.com' }))).toBe(true);
    }
    expect(TRIPWIRE_CALLS.map((c) => c.eventName)).toEqual(['GetCallerIdentity', 'GetSessionToken']);
    expect(matchesFilterPattern(guard, event({ eventName: 'GetSessionTokenX' }))).toBe(false);
    expect(matchesFilterPattern(guard, event({ eventName: 'AssumeRole' }))).toBe(false);
  });

  it('GetCallerIdentity matches with or without an error; other successful calls do not', () => {
    expect(matchesFilterPattern(guard, event({ eventName: 'GetCallerIdentity' }))).toBe(true);
    expect(
      matchesFilterPattern(guard, event({ eventName: 'GetCallerIdentity', errorCode: 'AccessDenied' })),
    ).toBe(true);
    expect(matchesFilterPattern(guard, event({ eventName: 'GetObject' }))).toBe(false);
    expect(matchesFilterPattern(guard, event({ eventName: 'GetCallerIdentityX' }))).toBe(false);
  });
});

describe('guardFilterPattern()', () => {
  it('fits CloudWatch Logs limit of 1024 characters and parses', () => {
    for (const pattern of [guardFilterPattern(), guardFilterPattern({ accountId: '123456789012' })]) {
      expect(pattern.length).toBeLessThanOrEqual(FILTER_PATTERN_MAX_LENGTH);
      expect(() => parseFilterPattern(pattern)).not.toThrow();
    }
  });

  it('uses * only at the ends of string values (CloudWatch treats a middle * literally)', () => {
    for (const pattern of [guardFilterPattern(), guardFilterPattern({ accountId: '123456789012' })]) {
      const strings = [...pattern.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
      expect(strings.length).toBeGreaterThan(3);
      for (const s of strings) expect(s.slice(1, -1)).not.toContain('*');
    }
  });

  it('the deployed form is pinned with the AWS::AccountId variable, and resolves to the pinned pattern', () => {
    const sub = guardFilterPatternSub();
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
    expect(sub).toContain('"*:iam::${AWS::AccountId}:user/backupctl/*"');
    // Only that one variable: Fn::Sub would fail on any other `${`.
    expect(sub.match(/\$\{/g)).toHaveLength(1);
    expect(pinnedGuardFilterPattern(sub, '123456789012')).toBe(
      guardFilterPattern({ accountId: '123456789012' }),
    );
    expect(() => pinnedGuardFilterPattern(sub, '*')).toThrow(/12 digits/);
  });

  it('docs/guard-pattern.md shows the pattern this function deploys', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'guard-pattern.md'), 'utf8');
    expect(doc).toContain(`\n${guardFilterPatternSub()}\n`);
    expect(doc).toContain(`\n${guardFilterPattern()}\n`);
    expect(doc).toContain('"*:iam::123456789012:user/backupctl/*"');
    expect(guardFilterPattern({ accountId: '123456789012' })).toContain(
      '"*:iam::123456789012:user/backupctl/*"',
    );
  });

  it('rejects an account id that is not 12 digits', () => {
    expect(() => guardFilterPattern({ accountId: '12345' })).toThrow(/12 digits/);
    expect(() => guardFilterPattern({ accountId: '*' })).toThrow(/12 digits/);
    expect(() => guardFilterPattern({ accountId: '12345678901" || $.a = "b' })).toThrow(/12 digits/);
  });

  it('exports the metric names the templates use', () => {
    expect(GUARD_METRIC_NAMESPACE).toBe('backupctl');
    expect(GUARD_METRIC_NAME).toBe('DeniedOrIdentityCalls');
    expect(GUARD_METRIC_DIMENSIONS).toEqual({ User: '$.userIdentity.userName' });
  });
});
