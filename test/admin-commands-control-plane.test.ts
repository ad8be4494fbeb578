/**
 * The admin side beyond a first init, against a mocked control plane: creating the bucket
 * and the trail, recover resuming after a failure, destroy, guard drill.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IAMServiceException } from '@aws-sdk/client-iam';
import {
  type DeviceConfig,
  deviceKeyAccount,
  encodeDeviceKey,
  type HealthAssessment,
  readEnvironment,
  saveDeviceConfig,
} from '@backupctl/core';
import { destroyDevice, guardDrill, initGuardedDevice, recoverDevice } from '@backupctl/stack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IamState } from './fixtures/iam-state.js';
import { MemorySecretStore } from './fixtures/memory-secret-store.js';
import { MockAccount, type MockAccountOptions } from './fixtures/mock-account.js';
import { AWS_DENY_ALL } from './fixtures/s3-authorisation.js';

const ok: HealthAssessment = { status: 'ok', retryable: false };
const ACCOUNT = '123456789012';
const USER = 'backupctl-laptop';

describe('admin commands, control plane', () => {
  let dir: string;
  let account: MockAccount | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'backupctl-admin-cp-'));
  });
  afterEach(async () => {
    account?.restore();
    account = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  function setup(options: Partial<MockAccountOptions> = {}) {
    const iam = new IamState(ACCOUNT);
    account = new MockAccount({ iam, region: 'eu-west-1', buckets: ['b-backups'], ...options });
    const env = readEnvironment({
      BACKUPCTL_CONFIG_DIR: path.join(dir, 'c'),
      BACKUPCTL_CACHE_DIR: path.join(dir, 'k'),
    });
    return { iam, account, env };
  }

  /** A device as init leaves it: stack deployed (user + alarm), one key in IAM and in the store. */
  async function armedDevice(
    iam: IamState,
    a: MockAccount,
    env: ReturnType<typeof readEnvironment>,
    store: MemorySecretStore,
  ) {
    a.stacks.set('backupctl-device-backupctl-laptop', {
      name: 'backupctl-device-backupctl-laptop',
      id: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/backupctl-device-backupctl-laptop/1',
      status: 'CREATE_COMPLETE',
      template: { Resources: { DeviceUser: { Type: 'AWS::IAM::User', Properties: { UserName: USER } } } },
      outputs: {},
      events: [],
    });
    iam.createUser(USER, []);
    iam.addAccessKey(USER, 'AKIAOLD0000000000001', 'old-secret');
    store.entries.set(
      deviceKeyAccount('laptop'),
      encodeDeviceKey({ accessKeyId: 'AKIAOLD0000000000001', secretAccessKey: 'old-secret' }),
    );
    const config: DeviceConfig = {
      version: 1,
      repository: 's3://b-backups/devices/laptop/',
      region: 'eu-west-1',
      paths: [],
      excludes: [],
      passwordSource: 'keychain',
      device: 'laptop',
      guard: {
        accountId: ACCOUNT,
        region: 'eu-west-1',
        bucket: 'b-backups',
        adminProfile: 'admin',
        userName: USER,
        deviceStack: 'backupctl-device-backupctl-laptop',
        guardStack: 'backupctl-guard',
        alarmName: `backupctl-guard-${USER}`,
        trailLogGroup: 'backupctl-cloudtrail',
      },
    };
    await saveDeviceConfig(env.configDir, config);
    return config;
  }

  it('--create-trail --create-bucket: the trail first, then the bucket exactly as backupctl wants it', async () => {
    const { account: a, env } = setup({ trail: 'none', buckets: [] });
    await initGuardedDevice({
      env,
      clients: () => a.clients,
      bucket: 'b-backups',
      device: 'laptop',
      region: 'eu-west-1',
      createTrail: true,
      createBucket: true,
      store: new MemorySecretStore(),
      password: 'pw-pw-pw-pw',
      endpoint: 'http://127.0.0.1:9',
      probe: async () => ok,
    }).catch(() => undefined); // the repository step needs a real S3 endpoint
    const writes = a.calls.filter((c) => /:(Create|Put|Start)/.test(c));
    expect(writes.slice(0, 13)).toEqual([
      's3:CreateBucket', // the trail's log bucket
      's3:PutPublicAccessBlock',
      's3:PutBucketPolicy',
      'logs:CreateLogGroup',
      'logs:PutRetentionPolicy',
      'iam:CreateRole',
      'iam:PutRolePolicy',
      'cloudtrail:CreateTrail',
      'cloudtrail:StartLogging',
      'cloudtrail:PutEventSelectors',
      's3:CreateBucket', // the backup bucket
      's3:PutPublicAccessBlock',
      's3:PutBucketOwnershipControls',
    ]);
    expect(a.inputsOf('cloudtrail:CreateTrail')[0]).toMatchObject({ IsMultiRegionTrail: true });
    expect(a.inputsOf('s3:CreateBucket')[1]).toMatchObject({
      Bucket: 'b-backups',
      CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' },
    });
    expect(a.inputsOf('s3:PutBucketVersioning')).toEqual([
      { Bucket: 'b-backups', VersioningConfiguration: { Status: 'Enabled' } },
    ]);
    expect(a.inputsOf('s3:PutBucketOwnershipControls')[0]).toMatchObject({
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    expect(a.inputsOf('s3:PutBucketEncryption')[0]).toMatchObject({
      ServerSideEncryptionConfiguration: {
        Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    });
    const lifecycle = a.inputsOf('s3:PutBucketLifecycleConfiguration')[0] as {
      LifecycleConfiguration: { Rules: Record<string, unknown>[] };
    };
    expect(lifecycle.LifecycleConfiguration.Rules).toHaveLength(1);
    expect(lifecycle.LifecycleConfiguration.Rules[0]).toMatchObject({
      Status: 'Enabled',
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    });
    expect(JSON.stringify(lifecycle)).not.toMatch(/Expiration/);
    const selectors = a.inputsOf('cloudtrail:PutEventSelectors')[0] as {
      AdvancedEventSelectors: { FieldSelectors: { Field: string; StartsWith?: string[] }[] }[];
    };
    expect(selectors.AdvancedEventSelectors.at(-1)?.FieldSelectors).toContainEqual({
      Field: 'resources.ARN',
      StartsWith: ['arn:aws:s3:::b-backups/'],
    });
  });

  it('--create-bucket --noncurrent-days 30: the lifecycle keeps the multipart abort and expires only noncurrent versions', async () => {
    const { account: a, env } = setup({ trail: 'none', buckets: [] });
    await initGuardedDevice({
      env,
      clients: () => a.clients,
      bucket: 'b-backups',
      device: 'laptop',
      region: 'eu-west-1',
      createTrail: true,
      createBucket: true,
      noncurrentDays: 30,
      store: new MemorySecretStore(),
      password: 'pw-pw-pw-pw',
      endpoint: 'http://127.0.0.1:9',
      probe: async () => ok,
    }).catch(() => undefined); // the repository step needs a real S3 endpoint
    const lifecycle = a.inputsOf('s3:PutBucketLifecycleConfiguration')[0] as {
      Bucket: string;
      LifecycleConfiguration: { Rules: Record<string, unknown>[] };
    };
    expect(lifecycle.Bucket).toBe('b-backups');
    const rules = lifecycle.LifecycleConfiguration.Rules;
    expect(rules).toHaveLength(2);
    expect(rules[0]).toMatchObject({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } });
    expect(rules[1]).toMatchObject({
      Status: 'Enabled',
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      Expiration: { ExpiredObjectDeleteMarker: true },
    });
    // Never a rule that expires current versions (backups under devices/).
    expect(rules.some((r) => (r.Expiration as { Days?: number } | undefined)?.Days !== undefined)).toBe(
      false,
    );
  });

  it('recover: a failure half-way resumes; a run after success changes nothing', async () => {
    let alarm = 'ALARM';
    const { account: a, env, iam } = setup({ alarmState: () => alarm });
    const store = new MemorySecretStore();
    const config = await armedDevice(iam, a, env, store);
    iam.attachUserPolicy(USER, AWS_DENY_ALL);
    let now = 0;
    const options = {
      env,
      config,
      clients: a.clients,
      store,
      confirm: async () => true,
      probe: async () => ok,
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
        alarm = 'OK'; // a minute without data points: OK on its own
      },
    };
    // The first run dies at the detach (throttled).
    let throttle = true;
    const detach = a.clients.iam.send.bind(a.clients.iam);
    a.clients.iam.send = (async (command: { constructor: { name: string } }) => {
      if (throttle && command.constructor.name === 'DetachUserPolicyCommand') {
        throttle = false;
        throw new IAMServiceException({
          name: 'Throttling',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          message: 'Rate exceeded',
        });
      }
      return detach(command as never);
    }) as typeof a.clients.iam.send;
    await expect(recoverDevice(options)).rejects.toMatchObject({ name: 'Throttling' });
    expect(iam.accessKeysOf(USER)).toEqual([]); // the thief's key is gone already
    expect(store.entries.has(deviceKeyAccount('laptop'))).toBe(false);
    expect(iam.isQuarantined(USER)).toBe(true);

    const second = await recoverDevice(options);
    expect(second).toMatchObject({ deletedKeys: [], detached: true });
    expect(iam.isQuarantined(USER)).toBe(false);
    expect(iam.accessKeysOf(USER)).toEqual([second.newKeyId]);

    const from = a.calls.length;
    const third = await recoverDevice(options);
    expect(third).toMatchObject({ deletedKeys: [], detached: false, newKeyId: second.newKeyId });
    expect(a.callsSince(from).filter((c) => /CreateAccessKey|DeleteAccessKey|SetAlarmState/.test(c))).toEqual(
      [],
    );
    expect(a.calls).not.toContain('cloudwatch:SetAlarmState');
  });

  it('destroy: keys, AWSDenyAll, the stack, the local entries; backups and guard kept; --guard waits for the last device', async () => {
    const { account: a, env, iam } = setup();
    const store = new MemorySecretStore();
    const config = await armedDevice(iam, a, env, store);
    store.entries.set(`repository-password:${config.repository}`, 'pw');
    iam.attachUserPolicy(USER, AWS_DENY_ALL);
    // Another device still uses the guard: --guard refuses before removing anything.
    a.stacks.set('backupctl-device-backupctl-desktop', {
      name: 'backupctl-device-backupctl-desktop',
      id: 'x2',
      status: 'CREATE_COMPLETE',
      template: {
        Resources: { DeviceUser: { Type: 'AWS::IAM::User', Properties: { UserName: 'backupctl-desktop' } } },
      },
      outputs: {},
      events: [],
    });
    iam.createUser('backupctl-desktop', []);
    await expect(
      destroyDevice({ env, config, clients: a.clients, store, guard: true }),
    ).rejects.toMatchObject({ code: 'GUARD_IN_USE' });
    expect(iam.accessKeysOf(USER)).toHaveLength(1);
    // Backups are not deleted without the typed confirmation.
    await expect(
      destroyDevice({
        env,
        config,
        clients: a.clients,
        store,
        deleteBackups: true,
        confirmDeleteBackups: async () => false,
      }),
    ).rejects.toMatchObject({ code: 'NOT_CONFIRMED' });
    expect(iam.hasUser(USER)).toBe(true);

    const result = await destroyDevice({ env, config, clients: a.clients, store, pollIntervalMs: 0 });
    expect(result).toMatchObject({
      stack: 'deleted',
      backups: 'kept',
      guardStack: 'kept',
      localConfigRemoved: true,
      deletedKeys: ['AKIAOLD0000000000001'],
    });
    const order = a.calls.filter((c) => /DeleteAccessKey|DetachUserPolicy|DeleteStack|DeleteObjects/.test(c));
    expect(order).toEqual(['iam:DeleteAccessKey', 'iam:DetachUserPolicy', 'cloudformation:DeleteStack']);
    expect(iam.hasUser(USER)).toBe(false);
    expect(store.entries.size).toBe(0);
    await expect(stat(path.join(env.configDir, 'config.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('guard drill: one tripwire call with the device key, polls until AWSDenyAll, measures the time', async () => {
    const { account: a, env, iam } = setup();
    const store = new MemorySecretStore();
    const config = await armedDevice(iam, a, env, store);
    const tripped: string[] = [];
    let now = 0;
    let polls = 0;
    const result = await guardDrill({
      env,
      config,
      clients: a.clients,
      store,
      tripwire: async (key) => {
        tripped.push(key.accessKeyId);
      },
      now: () => now,
      sleep: async (ms) => {
        now += ms;
        if (++polls === 3) iam.attachUserPolicy(USER, AWS_DENY_ALL); // the Lambda acts
      },
    });
    expect(tripped).toEqual(['AKIAOLD0000000000001']);
    expect(result).toEqual({ userName: USER, quarantinedAfterMs: 45_000 });
    expect(a.calls.filter((c) => c === 'iam:ListAttachedUserPolicies')).toHaveLength(4);
  });
});
