import {
  assertValidDeviceName,
  type DeviceConfig,
  type DeviceGuardConfig,
  devicePrefix,
  type Environment,
  type InitResult,
  initDevice,
  passwordAccount,
  type SecretStore,
} from '@backupctl/core';
import type { AdminClients } from '../deploy/admin-clients.js';
import { deviceUserName } from '../templates/device-stack.js';
import { deviceStackName, guardAlarmName } from '../templates/device-template.js';
import { DEFAULT_GUARD_STACK_NAME } from '../templates/guard-template.js';
import { checkTrail, type GuardTrail } from '../trail/check-trail.js';
import { createTrail } from '../trail/create-trail.js';
import { enableS3DataEvents, S3_DATA_EVENTS_COST_TEXT } from '../trail/s3-data-events.js';
import { resolveAccountId } from './account.js';
import { ensureBucket } from './bucket.js';
import { type MonthlyCost, monthlyCost } from './costs.js';
import { ensureDeviceKey } from './device-key.js';
import { deployDeviceStack, deviceStackOutdated, deviceStackState } from './device-stack.js';
import { asAdminCredentialsError, GuardPrerequisiteError } from './errors.js';
import type { GuardEventSink } from './events.js';
import { ensureGuardStack } from './guard-stack.js';
import { type DeviceProbe, probeUntilAllowed, s3DeviceProbe, waitForQuietMetric } from './probe-device.js';
import { simulateDeviceAccess } from './simulate-device.js';

export interface InitGuardedDeviceOptions {
  env: Environment;
  /** The admin clients for a region (undefined: the profile's or environment's region). */
  clients: (region?: string) => AdminClients;
  bucket: string;
  device: string;
  /** The admin profile (recorded in the config for later admin commands, never credentials). */
  profile?: string;
  /** The region for a new trail or bucket (default: the admin clients' region). */
  region?: string;
  email?: string;
  createBucket?: boolean;
  /** With createBucket: the lifecycle rule expiring noncurrent versions after N days. */
  noncurrentDays?: number;
  createTrail?: boolean;
  dataEvents?: boolean;
  paths?: string[];
  excludes?: string[];
  /** The keychain driver `store` is, recorded in the device config (`secrets.keychain`). */
  keychainDriver?: 'keyring' | 'keytar';
  dryRun?: boolean;
  /** The repository passphrase (not needed for a dry run). */
  password?: string;
  /** Where the device key and the passphrase go: the OS keychain. */
  store: SecretStore;
  /** S3-compatible endpoint for the device's calls (tests); AWS when absent. */
  endpoint?: string;
  guardStackName?: string;
  onEvent?: GuardEventSink;
  /** For tests. */
  probe?: DeviceProbe;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  pollIntervalMs?: number;
  packSize?: number;
  kdf?: { N: number; r: number; p: number };
}

export interface InitGuardedDeviceResult {
  dryRun: boolean;
  accountId: string;
  region: string;
  bucket: string;
  device: string;
  repository: string;
  userName: string;
  deviceStack: string;
  guardStack: string;
  alarmName: string;
  trail: { name: string; logGroup: string; created: boolean };
  dataEvents: 'added' | 'already' | 'skipped' | 'planned';
  created: string[];
  warnings: string[];
  cost: MonthlyCost;
  /** How long the guard takes to act, in words (CloudTrail's delivery is not instant). */
  guardActsIn: string;
  init?: InitResult;
}

export const GUARD_ACTS_IN =
  'about 5 to 10 minutes after a denied or GetCallerIdentity call (CloudTrail delivers to CloudWatch Logs within about 5 minutes on average, not guaranteed)';

/**
 * `backupctl init --bucket`: prerequisites (trail, data events), the bucket, the guard
 * stack, the device armed in two phases, the repository under `devices/<device>/`, the
 * config. Every step first looks at what exists, so a re-run after a failure resumes; a
 * dry run makes only read calls and reports what it would do.
 */
export async function initGuardedDevice(options: InitGuardedDeviceOptions): Promise<InitGuardedDeviceResult> {
  try {
    return await run(options);
  } catch (error) {
    throw asAdminCredentialsError(error, options.profile);
  }
}

async function run(options: InitGuardedDeviceOptions): Promise<InitGuardedDeviceResult> {
  const onEvent: GuardEventSink = options.onEvent ?? (() => undefined);
  const dryRun = options.dryRun === true;
  const { bucket, device } = options;
  assertValidDeviceName(device);
  const created: string[] = [];
  const warnings: string[] = [];
  const common = {
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  };

  // 1. Prerequisites.
  let clients = options.clients(options.region);
  onEvent({ type: 'start', step: 'account', text: 'the AWS account of the admin credentials' });
  const accountId = await resolveAccountId(clients.iam);
  onEvent({
    type: 'ok',
    step: 'account',
    text: `account ${accountId}${options.profile ? ` (profile ${options.profile})` : ''}`,
  });

  onEvent({
    type: 'start',
    step: 'trail',
    text: 'a multi-region trail, logging read and write management events to CloudWatch Logs',
  });
  const check = await checkTrail(clients.cloudTrail);
  let trail: GuardTrail | undefined = check.ok ? check.trail : undefined;
  let trailCreated = false;
  let region: string;
  if (check.ok) {
    region = check.trail.logGroupRegion;
    onEvent({
      type: 'ok',
      step: 'trail',
      text: `trail ${check.trail.name} delivers to ${check.trail.logGroupName} in ${region}`,
    });
    if (check.trail.deliveryError)
      warnings.push(
        `trail ${check.trail.name} reports a CloudWatch Logs delivery error: ${check.trail.deliveryError}`,
      );
  } else {
    if (!options.createTrail) {
      throw new GuardPrerequisiteError(`the guard has no usable trail (${check.problem})`, check.remedy, {
        problem: check.problem,
        trail: check.trail,
      });
    }
    region = options.region ?? (await clients.cloudTrail.config.region());
    if (dryRun) {
      onEvent({
        type: 'plan',
        step: 'trail',
        text: `would create trail backupctl-trail in ${region} (multi-region, read+write management events) delivering to log group backupctl-cloudtrail (${check.problem})`,
      });
    }
  }
  if (region !== (await clients.cloudTrail.config.region())) clients = options.clients(region);
  if (!trail && !dryRun) {
    const made = await createTrail({
      cloudTrail: clients.cloudTrail,
      s3: clients.s3,
      logs: clients.logs,
      iam: clients.iam,
      accountId,
      region,
      onProgress: (step) => onEvent({ type: 'start', step: 'trail', text: `create trail: ${step}` }),
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
    trailCreated = true;
    created.push(`trail ${made.trailName} (log group ${made.logGroupName}, log bucket ${made.bucketName})`);
    trail = {
      name: made.trailName,
      arn: made.trailArn,
      homeRegion: region,
      logGroupArn: made.logGroupArn,
      logGroupName: made.logGroupName,
      logGroupRegion: region,
      deliveryError: undefined,
    };
    onEvent({
      type: 'done',
      step: 'trail',
      text: `created trail ${made.trailName} delivering to ${made.logGroupName}`,
    });
  }
  const trailName = trail?.name ?? 'backupctl-trail';
  const trailLogGroup = trail?.logGroupName ?? 'backupctl-cloudtrail';

  const partition = 'aws';
  let dataEvents: InitGuardedDeviceResult['dataEvents'] = 'skipped';
  if (options.dataEvents === false) {
    onEvent({
      type: 'info',
      step: 'data-events',
      text: 'S3 data events: skipped (--no-data-events); the guard sees management events only',
    });
  } else {
    onEvent({ type: 'info', step: 'data-events', text: S3_DATA_EVENTS_COST_TEXT });
    if (dryRun || !trail) {
      dataEvents = 'planned';
      onEvent({
        type: 'plan',
        step: 'data-events',
        text: `would log S3 data events for arn:${partition}:s3:::${bucket}/ only (advanced selector on ${trailName})`,
      });
    } else {
      const r = await enableS3DataEvents({
        cloudTrail: clients.cloudTrail,
        trailName: trail.arn,
        bucketArn: `arn:${partition}:s3:::${bucket}`,
      });
      dataEvents = r.status;
      if (r.status === 'added') created.push(`S3 data events for ${bucket} on trail ${trailName}`);
      onEvent({
        type: r.status === 'added' ? 'done' : 'ok',
        step: 'data-events',
        text:
          r.status === 'added'
            ? `trail ${trailName} now logs S3 data events of ${bucket} only`
            : `trail ${trailName} already logs S3 data events of ${bucket}`,
      });
    }
  }

  // 2. The bucket.
  const bucketCheck = await ensureBucket({
    s3: clients.s3,
    bucket,
    region,
    create: options.createBucket === true,
    ...(options.noncurrentDays === undefined ? {} : { noncurrentDays: options.noncurrentDays }),
    dryRun,
    onEvent,
  });
  warnings.push(...bucketCheck.warnings);
  if (bucketCheck.created) created.push(`bucket ${bucket}`);

  // 3. The guard stack.
  const guardStack = options.guardStackName ?? DEFAULT_GUARD_STACK_NAME;
  const guard = await ensureGuardStack({
    cloudFormation: clients.cloudFormation,
    stackName: guardStack,
    accountId,
    trailLogGroup,
    ...(options.email !== undefined ? { email: options.email } : {}),
    dryRun,
    onEvent,
    ...common,
  });
  if (guard.status === 'created') created.push(`guard stack ${guardStack} (${region})`);

  // 4. The device, armed in two phases.
  const userName = deviceUserName(device);
  const stackName = deviceStackName(userName);
  const alarmName = guardAlarmName(userName);
  const repository = `s3://${bucket}/${devicePrefix(device)}`;
  const state = await deviceStackState(clients.cloudFormation, stackName);
  const cost = monthlyCost({ devices: 1, dataEvents: options.dataEvents !== false });
  const result: InitGuardedDeviceResult = {
    dryRun,
    accountId,
    region,
    bucket,
    device,
    repository,
    userName,
    deviceStack: stackName,
    guardStack,
    alarmName,
    trail: { name: trailName, logGroup: trailLogGroup, created: trailCreated },
    dataEvents,
    created,
    warnings,
    cost,
    guardActsIn: GUARD_ACTS_IN,
  };
  if (dryRun) {
    onEvent({
      type: 'plan',
      step: 'device-stack',
      text: state.armed
        ? `device stack ${stackName} is armed${deviceStackOutdated(state) ? ' (would update it)' : ''}`
        : `would deploy ${stackName}: IAM user /backupctl/${userName} and its policy (s3://${bucket}/${devicePrefix(device)} only), no alarm yet`,
    });
    onEvent({
      type: 'plan',
      step: 'access-key',
      text: `would create an access key for ${userName} with the IAM API and put it in the ${options.store.name}`,
    });
    onEvent({
      type: 'plan',
      step: 'probe',
      text: 'would probe with one LIST under the device prefix until IAM has propagated',
    });
    onEvent({
      type: 'plan',
      step: 'alarm',
      text: `would add the alarm ${alarmName} once the guard metric shows no data point for ${userName}`,
    });
    onEvent({
      type: 'plan',
      step: 'repository',
      text: `would create the repository at ${repository}, passphrase in the ${options.store.name}`,
    });
    return result;
  }

  const clientsRegion = await clients.cloudFormation.config.region();
  let outputs = state.outputs;
  if (!state.exists) {
    onEvent({
      type: 'start',
      step: 'device-stack',
      text: `device stack ${stackName}: user /backupctl/${userName} and its policy (phase 1, no alarm)`,
    });
    outputs = await deployDeviceStack({
      cloudFormation: clients.cloudFormation,
      stackName,
      bucket,
      device,
      accountId,
      guardStackName: guardStack,
      phase: 'user',
      onEvent,
      ...common,
    });
    created.push(`device stack ${stackName} (IAM user ${userName})`);
    onEvent({ type: 'done', step: 'device-stack', text: `user ${userName} and its policy deployed` });
  } else {
    onEvent({
      type: 'ok',
      step: 'device-stack',
      text: `${stackName} exists${state.armed ? ' (armed)' : ' (phase 1)'}`,
    });
  }
  const key = await ensureDeviceKey({ iam: clients.iam, userName, device, store: options.store, onEvent });
  if (key.created) created.push(`access key ${key.key.accessKeyId} (in the ${options.store.name})`);

  // Every policy counted (identity, bucket policy, SCPs): would AWS allow the device's calls?
  for (const text of await simulateDeviceAccess({
    iam: clients.iam,
    userArn: `arn:${partition}:iam::${accountId}:user/backupctl/${userName}`,
    bucket,
    device,
    ...(bucketCheck.policy ? { bucketPolicy: bucketCheck.policy } : {}),
  })) {
    warnings.push(text);
    onEvent({ type: 'warn', step: 'device-stack', text });
  }

  const bucketRegion = options.endpoint ? clientsRegion : await bucketRegionOf(clients, bucket, region);
  const probe =
    options.probe ??
    s3DeviceProbe({
      bucket,
      device,
      region: bucketRegion,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
  const probed = await probeUntilAllowed({
    probe,
    key: key.key,
    onEvent,
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.now ? { now: options.now } : {}),
  });

  if (!state.armed || deviceStackOutdated(state)) {
    if (!state.armed) {
      await waitForQuietMetric({
        cloudWatch: clients.cloudWatch,
        userName,
        lastDeniedAt: probed.lastDeniedAt,
        onEvent,
        ...(options.sleep ? { sleep: options.sleep } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
    }
    onEvent({ type: 'start', step: 'alarm', text: `alarm ${alarmName} (phase 2)` });
    outputs = await deployDeviceStack({
      cloudFormation: clients.cloudFormation,
      stackName,
      bucket,
      device,
      accountId,
      guardStackName: guardStack,
      phase: 'alarm',
      onEvent,
      ...common,
    });
    if (!state.armed) created.push(`alarm ${alarmName}`);
    onEvent({
      type: 'done',
      step: 'alarm',
      text: `alarm ${alarmName} armed: the guard now watches ${userName}`,
    });
  } else {
    onEvent({ type: 'ok', step: 'alarm', text: `alarm ${alarmName} is armed` });
  }
  void outputs;

  // 5. The repository, and the config (written last).
  onEvent({ type: 'start', step: 'repository', text: `repository ${repository}` });
  const guardConfig: DeviceGuardConfig = {
    accountId,
    region,
    bucket,
    ...(options.profile ? { adminProfile: options.profile } : {}),
    userName,
    deviceStack: stackName,
    guardStack,
    alarmName,
    trailLogGroup,
  };
  const init = await initDevice({
    env: options.env,
    repository,
    region: bucketRegion,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    paths: options.paths ?? [],
    excludes: options.excludes ?? [],
    password: options.password ?? '',
    keychain: options.store,
    ...(options.keychainDriver ? { keychainDriver: options.keychainDriver } : {}),
    credentials: key.key,
    device,
    guard: guardConfig,
    ...(options.packSize ? { packSize: options.packSize } : {}),
    ...(options.kdf ? { kdf: options.kdf } : {}),
  });
  onEvent({
    type: init.created ? 'done' : 'ok',
    step: 'repository',
    text: `${init.created ? 'created' : 'joined'} repository ${init.repositoryId.slice(0, 8)}; passphrase in the ${options.store.name} (${passwordAccount(repository)})`,
  });
  if (init.created) created.push(`repository ${repository}`);
  result.init = init;
  return result;
}

async function bucketRegionOf(clients: AdminClients, bucket: string, fallback: string): Promise<string> {
  const { HeadBucketCommand } = await import('@aws-sdk/client-s3');
  const out = await clients.s3.send(new HeadBucketCommand({ Bucket: bucket }));
  return out.BucketRegion ?? fallback;
}

export type { DeviceConfig };
