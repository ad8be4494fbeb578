import {
  type AdvancedEventSelector,
  type CloudTrailClient,
  DescribeTrailsCommand,
  GetEventSelectorsCommand,
  GetTrailStatusCommand,
  type Trail,
} from '@aws-sdk/client-cloudtrail';
import { awsErrorMessage, awsErrorName, StackError } from '../deploy/stack-error.js';

export interface GuardTrail {
  name: string;
  arn: string;
  homeRegion: string;
  logGroupArn: string;
  logGroupName: string;
  /** The guard stack must be deployed in this region: the metric filter lives there. */
  logGroupRegion: string;
  /** CloudWatch Logs delivery error CloudTrail last reported, if any. */
  deliveryError: string | undefined;
}

export type TrailProblem =
  | 'no-trail'
  | 'not-multi-region'
  | 'not-logging'
  | 'no-cloudwatch-logs'
  | 'no-management-events'
  | 'management-events-not-read-write';

export type TrailCheckResult =
  | { ok: true; trail: GuardTrail }
  | {
      ok: false;
      problem: TrailProblem;
      /** The trail closest to usable, if any. */
      trail: { name: string; arn: string } | undefined;
      /** Exactly what to do, in words. */
      remedy: string;
    };

const CREATE_HINT =
  'Run `backupctl init --bucket NAME --create-trail` to create one (a multi-region trail delivering to a CloudWatch Logs group), ' +
  'or create it in the CloudTrail console: enable "Multi-region trail" and "CloudWatch Logs".';

/** `arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*` → region and name. */
export function parseLogGroupArn(
  arn: string,
): { region: string; accountId: string; name: string } | undefined {
  const m = /^arn:[\w-]+:logs:([\w-]+):(\d{12}):log-group:([^:]+)(?::\*)?$/.exec(arn);
  return m ? { region: m[1]!, accountId: m[2]!, name: m[3]! } : undefined;
}

/**
 * Which management events a trail records: both kinds, or only reads or writes, or none.
 * The guard needs both: a write-only trail never records GetCallerIdentity (a read).
 */
export function managementEventsCoverage(selectors: {
  EventSelectors?: { IncludeManagementEvents?: boolean; ReadWriteType?: string }[];
  AdvancedEventSelectors?: AdvancedEventSelector[];
}): 'all' | 'read-only' | 'write-only' | 'none' {
  let reads = false;
  let writes = false;
  if (selectors.AdvancedEventSelectors && selectors.AdvancedEventSelectors.length > 0) {
    for (const s of selectors.AdvancedEventSelectors) {
      const fields = s.FieldSelectors ?? [];
      if (!fields.some((f) => f.Field === 'eventCategory' && f.Equals?.includes('Management'))) continue;
      const readOnly = fields.find((f) => f.Field === 'readOnly');
      if (readOnly === undefined) {
        reads = true;
        writes = true;
      } else {
        const values = readOnly.Equals ?? [];
        if (values.includes('true')) reads = true;
        if (values.includes('false')) writes = true;
      }
    }
  } else {
    // A trail with no selectors at all logs every management event (CloudTrail's default).
    for (const s of selectors.EventSelectors ?? [{ IncludeManagementEvents: true, ReadWriteType: 'All' }]) {
      if (s.IncludeManagementEvents === false) continue;
      const type = s.ReadWriteType ?? 'All';
      if (type === 'All' || type === 'ReadOnly') reads = true;
      if (type === 'All' || type === 'WriteOnly') writes = true;
    }
  }
  if (reads && writes) return 'all';
  if (reads) return 'read-only';
  if (writes) return 'write-only';
  return 'none';
}

export class TrailCheckError extends StackError {
  constructor(operation: string, cause: unknown) {
    super(
      'TRAIL_CHECK_FAILED',
      `CloudTrail ${operation} failed: ${awsErrorName(cause) ?? 'Error'}: ${awsErrorMessage(cause)}`,
      {
        cause,
        resolution:
          'The admin credentials need cloudtrail:DescribeTrails, GetTrailStatus and GetEventSelectors.',
      },
    );
  }
}

/**
 * Is there a trail the guard can use? It must be multi-region (STS calls to a regional
 * endpoint are logged only in that region), logging, logging management events, and
 * delivering to a CloudWatch Logs group. Shadow copies of trails from other regions are
 * included: a multi-region trail is usable from anywhere, but the guard must live in
 * the region of its log group.
 */
export async function checkTrail(cloudTrail: CloudTrailClient): Promise<TrailCheckResult> {
  let trails: Trail[];
  try {
    trails =
      (await cloudTrail.send(new DescribeTrailsCommand({ includeShadowTrails: true }))).trailList ?? [];
  } catch (error) {
    throw new TrailCheckError('DescribeTrails', error);
  }
  if (trails.length === 0)
    return {
      ok: false,
      problem: 'no-trail',
      trail: undefined,
      remedy: `No CloudTrail trail exists. ${CREATE_HINT}`,
    };

  const ranked: { trail: Trail; problem: TrailProblem | undefined; result?: GuardTrail }[] = [];
  for (const trail of trails) {
    const arn = trail.TrailARN ?? trail.Name ?? '';
    if (!trail.IsMultiRegionTrail) {
      ranked.push({ trail, problem: 'not-multi-region' });
      continue;
    }
    const parsed = trail.CloudWatchLogsLogGroupArn
      ? parseLogGroupArn(trail.CloudWatchLogsLogGroupArn)
      : undefined;
    if (parsed === undefined) {
      ranked.push({ trail, problem: 'no-cloudwatch-logs' });
      continue;
    }
    let status: { IsLogging?: boolean; LatestCloudWatchLogsDeliveryError?: string };
    let selectors: Parameters<typeof managementEventsCoverage>[0];
    try {
      status = await cloudTrail.send(new GetTrailStatusCommand({ Name: arn }));
      selectors = await cloudTrail.send(new GetEventSelectorsCommand({ TrailName: arn }));
    } catch (error) {
      throw new TrailCheckError('GetTrailStatus', error);
    }
    if (!status.IsLogging) {
      ranked.push({ trail, problem: 'not-logging' });
      continue;
    }
    const coverage = managementEventsCoverage(selectors);
    if (coverage === 'none') {
      ranked.push({ trail, problem: 'no-management-events' });
      continue;
    }
    if (coverage !== 'all') {
      ranked.push({ trail, problem: 'management-events-not-read-write' });
      continue;
    }
    const result: GuardTrail = {
      name: trail.Name ?? arn,
      arn,
      homeRegion: trail.HomeRegion ?? parsed.region,
      logGroupArn: trail.CloudWatchLogsLogGroupArn ?? '',
      logGroupName: parsed.name,
      logGroupRegion: parsed.region,
      deliveryError: status.LatestCloudWatchLogsDeliveryError || undefined,
    };
    ranked.push({ trail, problem: undefined, result });
  }
  const good =
    ranked.find((r) => r.result !== undefined && r.result.deliveryError === undefined) ??
    ranked.find((r) => r.result);
  if (good?.result) return { ok: true, trail: good.result };

  // The closest miss: a problem later in this list is a smaller one to fix.
  const order: TrailProblem[] = [
    'not-multi-region',
    'no-cloudwatch-logs',
    'no-management-events',
    'management-events-not-read-write',
    'not-logging',
  ];
  const best = ranked.sort((a, b) => order.indexOf(b.problem!) - order.indexOf(a.problem!))[0]!;
  const name = best.trail.Name ?? '';
  const remedies: Record<TrailProblem, string> = {
    'no-trail': CREATE_HINT,
    'not-multi-region': `Trail ${name} logs one region only; a thief's STS call in another region would go unseen. Make it multi-region (aws cloudtrail update-trail --name ${name} --is-multi-region-trail), then add CloudWatch Logs delivery if missing. ${CREATE_HINT}`,
    'no-cloudwatch-logs': `Trail ${name} does not deliver to CloudWatch Logs, where the guard's metric filter reads. Add a log group and role (aws cloudtrail update-trail --name ${name} --cloud-watch-logs-log-group-arn ARN --cloud-watch-logs-role-arn ROLE), or: ${CREATE_HINT}`,
    'no-management-events': `Trail ${name} does not log management events (GetCallerIdentity, IAM, EC2 …). Add a management-events selector to it.`,
    'management-events-not-read-write': `Trail ${name} records only read or only write management events; the guard needs both (a write-only trail never records GetCallerIdentity). Set its management events to "Read" and "Write" (aws cloudtrail put-event-selectors --trail-name ${name} …), or: ${CREATE_HINT}`,
    'not-logging': `Trail ${name} is stopped. Start it: aws cloudtrail start-logging --name ${name}`,
  };
  return {
    ok: false,
    problem: best.problem!,
    trail: { name, arn: best.trail.TrailARN ?? name },
    remedy: remedies[best.problem!],
  };
}
