import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  type DeviceKey,
  devicePrefix,
  type HealthAssessment,
  openBackend,
  probeHealth,
} from '@backupctl/core';
import { S3Backend } from '@backupctl/core/s3';
import { GUARD_METRIC_DIMENSION_NAME, GUARD_METRIC_NAME, GUARD_METRIC_NAMESPACE } from '../guard-pattern.js';
import { ArmingError } from './errors.js';
import { defaultSleep, type GuardEventSink, type GuardStep } from './events.js';

/** One allowed request with the device key (a LIST under its prefix), classified. Never STS. */
export type DeviceProbe = (key: DeviceKey) => Promise<HealthAssessment>;

/** Where the device's S3 calls go: AWS (region of the bucket) or an S3-compatible endpoint. */
export interface DeviceTarget {
  bucket: string;
  device: string;
  region: string;
  endpoint?: string;
}

/** The probe of a real device: core's guarded S3 client, with the key given. */
export function s3DeviceProbe(target: DeviceTarget): DeviceProbe {
  return async (key) => {
    const backend = await openBackend(
      {
        repository: `s3://${target.bucket}/${devicePrefix(target.device)}`,
        region: target.region,
        ...(target.endpoint ? { endpoint: target.endpoint } : {}),
      },
      { credentials: key },
    );
    if (!(backend instanceof S3Backend)) throw new Error('not an S3 backend');
    const prefix = devicePrefix(target.device).replace(/\/$/, '');
    return (await probeHealth(backend.client, { bucket: target.bucket, prefix })).assessment;
  };
}

/** Answers that mean "IAM has not propagated yet": the key or the policy is not known everywhere. */
const PROPAGATING = new Set<HealthAssessment['status']>(['key-invalid', 'denied', 'unknown-denied']);

export interface ProbeUntilAllowedOptions {
  probe: DeviceProbe;
  key: DeviceKey;
  onEvent: GuardEventSink;
  step?: GuardStep;
  /** Give up after this long (default 3 min: IAM usually propagates in seconds). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * Probes until the key works, backing off (1, 2, 4 … 15 s) while AWS answers
 * InvalidAccessKeyId or an implicit deny. Returns when the last denied attempt was made
 * (undefined when none was), which the alarm must not see.
 */
export async function probeUntilAllowed(
  options: ProbeUntilAllowedOptions,
): Promise<{ attempts: number; lastDeniedAt: number | undefined }> {
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const step = options.step ?? 'probe';
  const start = now();
  const timeout = options.timeoutMs ?? 180_000;
  let delay = 1000;
  let lastDeniedAt: number | undefined;
  options.onEvent({ type: 'start', step, text: 'probe: one LIST under the device prefix with the new key' });
  for (let attempt = 1; ; attempt++) {
    const assessment = await options.probe(options.key);
    if (assessment.status === 'ok') {
      options.onEvent({ type: 'done', step, text: `the key works (attempt ${attempt})` });
      return { attempts: attempt, lastDeniedAt };
    }
    if (!PROPAGATING.has(assessment.status)) {
      throw new ArmingError(
        `the probe with the device key failed: ${assessment.status}${assessment.message ? `: ${assessment.message}` : ''}`,
        assessment.status === 'quarantined'
          ? 'The device user carries a deny policy (AWSDenyAll?): run `backupctl recover`.'
          : 'Fix the cause above and run the same command again: it resumes.',
        { status: assessment.status },
      );
    }
    if (assessment.status !== 'key-invalid') lastDeniedAt = now();
    if (now() - start + delay > timeout) {
      throw new ArmingError(
        `the device key still gets ${assessment.status} after ${Math.round((now() - start) / 1000)} s`,
        'IAM may be slow to propagate: run the same command again in a minute; it resumes. If it persists, a bucket policy or an organization SCP may deny the device.',
        { status: assessment.status },
      );
    }
    options.onEvent({
      type: 'wait',
      step,
      text: `${assessment.status === 'key-invalid' ? 'InvalidAccessKeyId' : 'AccessDenied (implicit)'}: IAM is propagating; again in ${delay / 1000} s`,
    });
    await sleep(delay);
    delay = Math.min(delay * 2, 15_000);
  }
}

/**
 * How far back the arming check looks for guard data points: the alarm's own window (one
 * 60 s period) plus CloudTrail's delivery delay to CloudWatch Logs (about 5 minutes on
 * average, not guaranteed), with a margin. A data point in it would fire a new alarm at once.
 */
export const ARM_LOOKBACK_MS = 15 * 60_000;

/** Sum of the guard metric for one user over [from, to]. */
export async function guardMetricSum(
  cloudWatch: CloudWatchClient,
  userName: string,
  from: Date,
  to: Date,
): Promise<number> {
  const out = await cloudWatch.send(
    new GetMetricDataCommand({
      StartTime: from,
      EndTime: to,
      MetricDataQueries: [
        {
          Id: 'guard',
          ReturnData: true,
          MetricStat: {
            Metric: {
              Namespace: GUARD_METRIC_NAMESPACE,
              MetricName: GUARD_METRIC_NAME,
              Dimensions: [{ Name: GUARD_METRIC_DIMENSION_NAME, Value: userName }],
            },
            Period: 60,
            Stat: 'Sum',
          },
        },
      ],
    }),
  );
  return (out.MetricDataResults ?? []).flatMap((r) => r.Values ?? []).reduce((a, b) => a + b, 0);
}

/**
 * Waits until the guard metric has no data point for the user in the look-back window
 * (GetMetricData, admin credentials) — so an alarm created now does not fire on the
 * propagation probes. When a probe was denied, waits first until that probe is older than
 * the window (its record may not have reached the metric yet).
 */
export async function waitForQuietMetric(options: {
  cloudWatch: CloudWatchClient;
  userName: string;
  lastDeniedAt: number | undefined;
  onEvent: GuardEventSink;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}): Promise<void> {
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const start = now();
  const timeout = options.timeoutMs ?? 40 * 60_000;
  options.onEvent({
    type: 'start',
    step: 'metric',
    text: `guard metric of ${options.userName}: no data point in the last ${ARM_LOOKBACK_MS / 60_000} minutes?`,
  });
  if (options.lastDeniedAt !== undefined && now() - options.lastDeniedAt < ARM_LOOKBACK_MS) {
    const wait = ARM_LOOKBACK_MS - (now() - options.lastDeniedAt);
    options.onEvent({
      type: 'wait',
      step: 'metric',
      text: `probes were denied while IAM propagated; waiting ${Math.ceil(wait / 60_000)} min until they are out of the alarm's window`,
    });
    await sleep(wait);
  }
  for (;;) {
    const t = now();
    const sum = await guardMetricSum(
      options.cloudWatch,
      options.userName,
      new Date(t - ARM_LOOKBACK_MS),
      new Date(t),
    );
    if (sum === 0) {
      options.onEvent({
        type: 'ok',
        step: 'metric',
        text: 'no guard data point for this user: safe to add the alarm',
      });
      return;
    }
    if (t - start > timeout) {
      throw new ArmingError(
        `the guard metric still counts ${sum} call(s) of ${options.userName} in the last ${ARM_LOOKBACK_MS / 60_000} minutes`,
        'Something made denied or GetCallerIdentity calls with this user. If it was not you, the key may be stolen: run `backupctl recover`. Otherwise run init again later: it resumes.',
        { userName: options.userName, sum },
      );
    }
    options.onEvent({
      type: 'wait',
      step: 'metric',
      text: `${sum} guard data point(s) in the window; checking again in 60 s`,
    });
    await sleep(60_000);
  }
}
