import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { type CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  DetachUserPolicyCommand,
  type IAMClient,
  ListAttachedUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import {
  type DeviceConfig,
  type DeviceGuardConfig,
  deviceKeyAccount,
  type Environment,
  healthStore,
  type SecretStore,
} from '@backupctl/core';
import type { AdminClients } from '../deploy/admin-clients.js';
import { awsErrorName, StackError } from '../deploy/stack-error.js';
import { guardFilterPattern } from '../guard-pattern.js';
import { deleteAccessKeys, ensureDeviceKey, storedDeviceKey } from '../init/device-key.js';
import { asAdminCredentialsError, GuardErrorCodes, NotConfirmedError } from '../init/errors.js';
import { defaultSleep, type GuardEventSink } from '../init/events.js';
import { type DeviceProbe, probeUntilAllowed, s3DeviceProbe } from '../init/probe-device.js';

export const DENY_ALL_POLICY_ARN = 'arn:aws:iam::aws:policy/AWSDenyAll';

/** One offending event, as CloudTrail recorded it (attacker-controlled fields cut). */
export interface GuardEventSummary {
  time: string;
  eventName: string;
  eventSource: string;
  errorCode?: string;
  sourceIp?: string;
  userAgent?: string;
  region?: string;
  accessKeyId?: string;
}

const cut = (value: unknown, max = 120): string | undefined =>
  typeof value === 'string' ? value.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, max) : undefined;

/** The device's guard, from its config; a device set up with `init --repo` has none. */
export function guardOf(config: DeviceConfig): DeviceGuardConfig & { device: string } {
  if (!config.guard || !config.device) {
    throw new StackError(
      GuardErrorCodes.notGuarded,
      'this device has no guard: it was set up without `init --bucket`',
      {
        source: 'user',
        resolution: 'Set it up with `backupctl init --bucket NAME` (admin credentials).',
      },
    );
  }
  return { ...config.guard, device: config.device };
}

/** The events of the user that match the guard's pattern, newest last (FilterLogEvents). */
export async function offendingEvents(options: {
  logs: CloudWatchLogsClient;
  logGroup: string;
  accountId: string;
  userName: string;
  since: Date;
  limit?: number;
}): Promise<GuardEventSummary[]> {
  const pattern = guardFilterPattern({ accountId: options.accountId });
  const events: GuardEventSummary[] = [];
  let nextToken: string | undefined;
  do {
    const out = await options.logs.send(
      new FilterLogEventsCommand({
        logGroupName: options.logGroup,
        filterPattern: pattern,
        startTime: options.since.getTime(),
        nextToken,
      }),
    );
    for (const e of out.events ?? []) {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(e.message ?? '') as Record<string, unknown>;
      } catch {
        continue;
      }
      const identity = (r.userIdentity ?? {}) as Record<string, unknown>;
      if (identity.userName !== options.userName) continue;
      events.push({
        time: String(r.eventTime ?? new Date(e.timestamp ?? 0).toISOString()),
        eventName: cut(r.eventName, 64) ?? '',
        eventSource: cut(r.eventSource, 64) ?? '',
        ...(r.errorCode ? { errorCode: cut(r.errorCode, 64) } : {}),
        ...(r.sourceIPAddress ? { sourceIp: cut(r.sourceIPAddress, 64) } : {}),
        ...(r.userAgent ? { userAgent: cut(r.userAgent) } : {}),
        ...(r.awsRegion ? { region: cut(r.awsRegion, 32) } : {}),
        ...(identity.accessKeyId ? { accessKeyId: cut(identity.accessKeyId, 32) } : {}),
      });
    }
    nextToken = out.nextToken;
  } while (nextToken !== undefined && events.length < (options.limit ?? 50));
  return events;
}

export async function alarmState(
  cloudWatch: CloudWatchClient,
  alarmName: string,
): Promise<string | undefined> {
  const out = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [alarmName] }));
  return out.MetricAlarms?.[0]?.StateValue;
}

export async function hasDenyAll(iam: IAMClient, userName: string): Promise<boolean> {
  const out = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: userName }));
  return (out.AttachedPolicies ?? []).some((p) => p.PolicyArn === DENY_ALL_POLICY_ARN);
}

export interface RecoverDeviceOptions {
  env: Environment;
  config: DeviceConfig;
  clients: AdminClients;
  store: SecretStore;
  profile?: string;
  /** Shown the offending events; says whether to go on (the CLI asks, or --yes). */
  confirm: (events: GuardEventSummary[]) => Promise<boolean>;
  onEvent?: GuardEventSink;
  /** How far back to look for the events (default 24 h). */
  sinceMs?: number;
  probe?: DeviceProbe;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Give up waiting for the alarm after this long (default 30 min). */
  alarmTimeoutMs?: number;
  alarmPollMs?: number;
}

export interface RecoverDeviceResult {
  events: GuardEventSummary[];
  deletedKeys: string[];
  detached: boolean;
  newKeyId: string;
  waitedForAlarmMs: number;
}

/**
 * `backupctl recover`, with the admin's credentials: shows the offending events, deletes
 * the device's old keys (the thief's copy dies with them), waits for the alarm to return
 * to OK on its own — never SetAlarmState: the alarm re-evaluates recent data and would fire
 * again —, detaches AWSDenyAll, stores a new key, probes through IAM's propagation, and
 * clears the local quarantine state. Each step looks first, so a re-run resumes.
 */
export async function recoverDevice(options: RecoverDeviceOptions): Promise<RecoverDeviceResult> {
  try {
    return await recover(options);
  } catch (error) {
    throw asAdminCredentialsError(error, options.profile);
  }
}

async function recover(options: RecoverDeviceOptions): Promise<RecoverDeviceResult> {
  const onEvent: GuardEventSink = options.onEvent ?? (() => undefined);
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const guard = guardOf(options.config);
  const { iam, cloudWatch, logs } = options.clients;

  onEvent({
    type: 'start',
    step: 'events',
    text: `the guard's events of ${guard.userName} (${guard.trailLogGroup})`,
  });
  const events = await offendingEvents({
    logs,
    logGroup: guard.trailLogGroup,
    accountId: guard.accountId,
    userName: guard.userName,
    since: new Date(now() - (options.sinceMs ?? 24 * 3600_000)),
  });
  onEvent({ type: 'ok', step: 'events', text: `${events.length} event(s) found` });
  if (!(await options.confirm(events))) throw new NotConfirmedError(`recover ${guard.device}`);

  // Keys: while AWSDenyAll is attached, every key of the user is suspect, the stored one
  // too. Once it is detached (a re-run after that step), the stored key is the new one.
  const quarantined = await hasDenyAll(iam, guard.userName);
  const stored = await storedDeviceKey(options.store, guard.device);
  onEvent({ type: 'start', step: 'delete-keys', text: `delete the old access keys of ${guard.userName}` });
  const deletedKeys = await deleteAccessKeys(
    iam,
    guard.userName,
    quarantined ? undefined : stored?.accessKeyId,
  );
  if (quarantined && stored) await options.store.delete(deviceKeyAccount(guard.device));
  onEvent({
    type: deletedKeys.length > 0 ? 'done' : 'ok',
    step: 'delete-keys',
    text: deletedKeys.length > 0 ? `deleted ${deletedKeys.join(', ')}` : 'no old key left',
  });

  onEvent({
    type: 'start',
    step: 'wait-alarm',
    text: `wait for ${guard.alarmName} to return to OK on its own`,
  });
  const started = now();
  const timeout = options.alarmTimeoutMs ?? 30 * 60_000;
  for (;;) {
    const state = await alarmState(cloudWatch, guard.alarmName);
    if (state === 'OK' || state === undefined) {
      onEvent({
        type: 'ok',
        step: 'wait-alarm',
        text: state === 'OK' ? `${guard.alarmName} is OK` : `${guard.alarmName} does not exist (not armed)`,
      });
      break;
    }
    if (now() - started > timeout) {
      throw new StackError(
        GuardErrorCodes.armingFailed,
        `${guard.alarmName} is still ${state} after ${Math.round((now() - started) / 60_000)} min`,
        {
          resolution:
            'The guard metric still sees calls of this user (with the old keys deleted, they would be denied). Look at the events in CloudWatch Logs, then run `backupctl recover` again: it resumes.',
        },
      );
    }
    onEvent({
      type: 'wait',
      step: 'wait-alarm',
      text: `${guard.alarmName} is ${state}; it returns to OK when a minute passes without guard data points`,
    });
    await sleep(options.alarmPollMs ?? 30_000);
  }
  const waitedForAlarmMs = now() - started;

  onEvent({ type: 'start', step: 'detach-deny-all', text: `detach AWSDenyAll from ${guard.userName}` });
  let detached = false;
  try {
    await iam.send(new DetachUserPolicyCommand({ UserName: guard.userName, PolicyArn: DENY_ALL_POLICY_ARN }));
    detached = true;
  } catch (error) {
    if (awsErrorName(error) !== 'NoSuchEntityException' && awsErrorName(error) !== 'NoSuchEntity')
      throw error;
  }
  onEvent({
    type: detached ? 'done' : 'ok',
    step: 'detach-deny-all',
    text: detached ? 'AWSDenyAll detached' : 'AWSDenyAll was not attached',
  });

  const key = await ensureDeviceKey({
    iam,
    userName: guard.userName,
    device: guard.device,
    store: options.store,
    onEvent,
  });
  const probe =
    options.probe ??
    s3DeviceProbe({
      bucket: guard.bucket,
      device: guard.device,
      region: options.config.region ?? guard.region,
      ...(options.config.endpoint ? { endpoint: options.config.endpoint } : {}),
    });
  await probeUntilAllowed({ probe, key: key.key, onEvent, sleep, now });

  onEvent({ type: 'start', step: 'local-state', text: 'clear the local quarantine state' });
  await healthStore(options.env).record({ status: 'ok', retryable: false });
  onEvent({ type: 'done', step: 'local-state', text: 'this device is healthy again' });
  return { events, deletedKeys, detached, newKeyId: key.key.accessKeyId, waitedForAlarmMs };
}
