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
  | 'no-management-events';

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
  'Run `backupctl init --create-trail` to create one (a multi-region trail delivering to a CloudWatch Logs group), ' +
  'or create it in the CloudTrail console: enable "Multi-region trail" and "CloudWatch Logs".';

/** `arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*` → region and name. */
export function parseLogGroupArn(
  arn: string,
): { region: string; accountId: string; name: string } | undefined {
  const m = /^arn:[\w-]+:logs:([\w-]+):(\d{12}):log-group:([^:]+)(?::\*)?$/.exec(arn);
  return m ? { region: m[1]!, accountId: m[2]!, name: m[3]! } : undefined;
}

function logsManagementEvents(selectors: {
  EventSelectors?: { IncludeManagementEvents?: boolean }[];
  AdvancedEventSelectors?: AdvancedEventSelector[];
}): boolean {
  if (selectors.AdvancedEventSelectors && selectors.AdvancedEventSelectors.length > 0) {
    return selectors.AdvancedEventSelectors.some((s) =>
      s.FieldSelectors?.some((f) => f.Field === 'eventCategory' && f.Equals?.includes('Management')),
    );
  }
  // A trail with no selectors at all logs management events (CloudTrail's default).
  return (selectors.EventSelectors ?? [{ IncludeManagementEvents: true }]).some(
    (s) => s.IncludeManagementEvents !== false,
  );
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
    let selectors: Parameters<typeof logsManagementEvents>[0];
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
    if (!logsManagementEvents(selectors)) {
      ranked.push({ trail, problem: 'no-management-events' });
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
    'not-logging',
  ];
  const best = ranked.sort((a, b) => order.indexOf(b.problem!) - order.indexOf(a.problem!))[0]!;
  const name = best.trail.Name ?? '';
  const remedies: Record<TrailProblem, string> = {
    'no-trail': CREATE_HINT,
    'not-multi-region': `Trail ${name} logs one region only; a thief's STS call in another region would go unseen. Make it multi-region (aws cloudtrail update-trail --name ${name} --is-multi-region-trail), then add CloudWatch Logs delivery if missing. ${CREATE_HINT}`,
    'no-cloudwatch-logs': `Trail ${name} does not deliver to CloudWatch Logs, where the guard's metric filter reads. Add a log group and role (aws cloudtrail update-trail --name ${name} --cloud-watch-logs-log-group-arn ARN --cloud-watch-logs-role-arn ROLE), or: ${CREATE_HINT}`,
    'no-management-events': `Trail ${name} does not log management events (GetCallerIdentity, IAM, EC2 …). Add a management-events selector to it.`,
    'not-logging': `Trail ${name} is stopped. Start it: aws cloudtrail start-logging --name ${name}`,
  };
  return {
    ok: false,
    problem: best.problem!,
    trail: { name, arn: best.trail.TrailARN ?? name },
    remedy: remedies[best.problem!],
  };
}
