/**
 * init --bucket and recover against a mocked control plane (aws-sdk-client-mock, errors as
 * the SDK shapes them): what is refused and with which words, what is called and in which
 * order, and how the arming backs off. The device's probe is a scripted function here; the
 * loop test (test/loop/) runs it for real through the IAM proxy.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type HealthAssessment, readEnvironment } from '@backupctl/core';
import {
  ARM_LOOKBACK_MS,
  customerManagedKmsKey,
  deviceStackTemplate,
  initGuardedDevice,
  managementEventsCoverage,
  probeUntilAllowed,
  withoutAlarm,
} from '@backupctl/stack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IamState } from './fixtures/iam-state.js';
import { MemorySecretStore } from './fixtures/memory-secret-store.js';
import { MockAccount, type MockAccountOptions } from './fixtures/mock-account.js';

const ok: HealthAssessment = { status: 'ok', retryable: false };

describe('init --bucket, control plane', () => {
  let dir: string;
  let account: MockAccount | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'backupctl-init-cp-'));
  });
  afterEach(async () => {
    account?.restore();
    account = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  function setup(options: Partial<MockAccountOptions> = {}) {
    const iam = new IamState('123456789012');
    account = new MockAccount({ iam, region: 'eu-west-1', buckets: ['b-backups'], ...options });
    const env = readEnvironment({
      BACKUPCTL_CONFIG_DIR: path.join(dir, 'c'),
      BACKUPCTL_CACHE_DIR: path.join(dir, 'k'),
    });
    return { iam, account, env };
  }

  const mutating = (calls: string[]) =>
    calls.filter((c) => /:(Create|Put|Execute|Delete|Detach|Attach)/.test(c));

  it('no usable trail: exit-30 error naming --create-trail, and nothing changed', async () => {
    const { account: a, env } = setup({ trail: 'none' });
    const error = await initGuardedDevice({
      env,
      clients: () => a.clients,
      bucket: 'b-backups',
      device: 'laptop',
      store: new MemorySecretStore(),
      probe: async () => ok,
    }).catch((e) => e);
    expect(error.code).toBe('GUARD_PREREQUISITE_MISSING');
    expect(error.resolution).toContain('backupctl init --bucket NAME --create-trail');
    expect(mutating(a.calls)).toEqual([]);
  });

  it('a write-only trail is not enough: it never records GetCallerIdentity', async () => {
    const { account: a, env } = setup({ trail: 'write-only' });
    const error = await initGuardedDevice({
      env,
      clients: () => a.clients,
      bucket: 'b-backups',
      device: 'laptop',
      store: new MemorySecretStore(),
      probe: async () => ok,
    }).catch((e) => e);
    expect(error.code).toBe('GUARD_PREREQUISITE_MISSING');
    expect(error.details.problem).toBe('management-events-not-read-write');
    expect(error.resolution).toMatch(/Read.*Write/);
    expect(
      managementEventsCoverage({
        EventSelectors: [{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: true }],
      }),
    ).toBe('read-only');
    expect(
      managementEventsCoverage({
        AdvancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] }],
      }),
    ).toBe('all');
    expect(
      managementEventsCoverage({
        AdvancedEventSelectors: [
          {
            FieldSelectors: [
              { Field: 'eventCategory', Equals: ['Management'] },
              { Field: 'readOnly', Equals: ['false'] },
            ],
          },
        ],
      }),
    ).toBe('write-only');
  });

  it('a bucket encrypted with a customer-managed KMS key is refused with the fix, before any stack', async () => {
    const { account: a, env } = setup({
      kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    const error = await initGuardedDevice({
      env,
      clients: () => a.clients,
      bucket: 'b-backups',
      device: 'laptop',
      store: new MemorySecretStore(),
      dataEvents: false,
      probe: async () => ok,
    }).catch((e) => e);
    expect(error.code).toBe('BUCKET_UNSUITABLE');
    expect(error.resolution).toContain('SSEAlgorithm');
    expect(a.calls.some((c) => c.startsWith('cloudformation:'))).toBe(false);
    expect(mutating(a.calls)).toEqual([]);
    expect(
      customerManagedKmsKey([{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }]),
    ).toBeUndefined();
    expect(
      customerManagedKmsKey([
        { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/aws/s3' } },
      ]),
    ).toBeUndefined();
  });

  it('a missing bucket without --create-bucket: exit 24 naming the flag', async () => {
    const { account: a, env } = setup({ buckets: [] });
    const error = await initGuardedDevice({
      env,
      clients: () => a.clients,
      bucket: 'b-backups',
      device: 'laptop',
      store: new MemorySecretStore(),
      dataEvents: false,
      probe: async () => ok,
    }).catch((e) => e);
    expect(error.code).toBe('BUCKET_MISSING');
    expect(error.resolution).toContain('--create-bucket');
  });

  it('the alarm waits: denied probes while IAM propagates must leave the alarm window first', async () => {
    const { account: a, env, iam } = setup();
    let now = 1_000_000_000_000;
    const sleeps: number[] = [];
    const answers: HealthAssessment[] = [
      { status: 'key-invalid', retryable: false, errorName: 'InvalidAccessKeyId' },
      { status: 'unknown-denied', retryable: false, errorName: 'AccessDenied' },
      ok,
    ];
    let alarmArmedBeforeProbeDone = false;
    const probe = async () => {
      const user = [...a.stacks.values()].find((s) => s.name.startsWith('backupctl-device-'));
      if (user?.outputs.GuardAlarmName) alarmArmedBeforeProbeDone = true;
      return answers.shift()!;
    };
    const result = await initGuardedDevice({
      env,
      clients: () => a.clients,
      bucket: 'b-backups',
      device: 'laptop',
      store: new MemorySecretStore(),
      dataEvents: false,
      dryRun: false,
      password: 'pw-pw-pw-pw',
      probe,
      now: () => now,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
      },
    }).catch((e) => e);
    // The repository step needs a real S3 and fails here; everything before it is what counts.
    expect(String(result)).not.toMatch(/ARMING/);
    expect(alarmArmedBeforeProbeDone).toBe(false);
    expect(sleeps.slice(0, 2)).toEqual([1000, 2000]);
    // The implicit deny at attempt 2 (t = 1 s) must age out of the window before GetMetricData.
    expect(sleeps[2]).toBe(ARM_LOOKBACK_MS - 2000);
    const order = a.calls.filter((c) => /CreateAccessKey|GetMetricData|ExecuteChangeSet/.test(c));
    expect(order).toEqual([
      'cloudformation:ExecuteChangeSet',
      'cloudformation:ExecuteChangeSet',
      'iam:CreateAccessKey',
      'cloudwatch:GetMetricData',
      'cloudformation:ExecuteChangeSet',
    ]);
    expect(iam.hasUser('backupctl-laptop')).toBe(true);
  });

  it('probe: gives up with exit-33 advice when IAM never lets the key in; never retries a quarantine', async () => {
    let now = 0;
    const denied = { status: 'unknown-denied', retryable: false } as HealthAssessment;
    const error = await probeUntilAllowed({
      probe: async () => denied,
      key: { accessKeyId: 'A', secretAccessKey: 'B' },
      onEvent: () => undefined,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    }).catch((e) => e);
    expect(error.code).toBe('DEVICE_ARMING_FAILED');
    let calls = 0;
    const quarantined = await probeUntilAllowed({
      probe: async () => {
        calls++;
        return { status: 'quarantined', retryable: false };
      },
      key: { accessKeyId: 'A', secretAccessKey: 'B' },
      onEvent: () => undefined,
      sleep: async () => undefined,
    }).catch((e) => e);
    expect(calls).toBe(1);
    expect(quarantined.resolution).toContain('backupctl recover');
  });

  it('phase 1 is the device template without the alarm, and without anything that names it', () => {
    const full = deviceStackTemplate({ bucket: 'b-backups', device: 'laptop', accountId: '123456789012' });
    const phase1 = withoutAlarm(full);
    expect(Object.values(full.Resources).some((r) => r.Type === 'AWS::CloudWatch::Alarm')).toBe(true);
    expect(Object.values(phase1.Resources).some((r) => r.Type === 'AWS::CloudWatch::Alarm')).toBe(false);
    expect(JSON.stringify(phase1)).not.toContain('"GuardAlarm"');
    expect(Object.keys(phase1.Resources).sort()).toEqual(['DevicePolicy', 'DeviceUser']);
  });
});

describe('init --bucket: a device call the SCPs or the bucket policy would deny is named', () => {
  it('warns per action, saying when an SCP decides', async () => {
    const { IAMClient, SimulatePrincipalPolicyCommand } = await import('@aws-sdk/client-iam');
    const { mockClient } = await import('aws-sdk-client-mock');
    const { simulateDeviceAccess } = await import('@backupctl/stack');
    const iam = new IAMClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'A', secretAccessKey: 'B' },
    });
    const m = mockClient(iam);
    m.on(SimulatePrincipalPolicyCommand).callsFake((input: { ActionNames?: string[] }) => ({
      EvaluationResults: [
        input.ActionNames?.[0] === 's3:PutObject'
          ? {
              EvalActionName: 's3:PutObject',
              EvalDecision: 'explicitDeny',
              OrganizationsDecisionDetail: { AllowedByOrganizations: false },
            }
          : { EvalActionName: input.ActionNames?.[0], EvalDecision: 'allowed' },
      ],
    }));
    const warnings = await simulateDeviceAccess({
      iam,
      userArn: 'arn:aws:iam::123456789012:user/backupctl/backupctl-laptop',
      bucket: 'b-backups',
      device: 'laptop',
      bucketPolicy: '{}',
    });
    m.restore();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^s3:PutObject on arn:aws:s3:::b-backups\/devices\/laptop\/config would be explicitDeny by an organization SCP/,
    );
    const inputs = m.commandCalls(SimulatePrincipalPolicyCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.ActionNames?.[0]).sort()).toEqual([
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
    expect(inputs.find((i) => i.ActionNames?.[0] === 's3:ListBucket')?.ContextEntries).toEqual([
      { ContextKeyName: 's3:prefix', ContextKeyValues: ['devices/laptop/'], ContextKeyType: 'string' },
    ]);
  });
});

describe('admin credentials', () => {
  it('no credentials (anywhere in the cause chain) become ADMIN_CREDENTIALS_MISSING naming the profile', async () => {
    const { asAdminCredentialsError, CloudFormationCallError } = await import('@backupctl/stack');
    const missing = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    const mapped = asAdminCredentialsError(
      new CloudFormationCallError('DescribeStacks', 'backupctl-guard', missing),
      'owner-sso',
    ) as {
      code: string;
      resolution: string;
    };
    expect(mapped.code).toBe('ADMIN_CREDENTIALS_MISSING');
    expect(mapped.resolution).toContain('aws sso login --profile owner-sso');
    const other = new Error('boom');
    expect(asAdminCredentialsError(other, undefined)).toBe(other);
  });
});
