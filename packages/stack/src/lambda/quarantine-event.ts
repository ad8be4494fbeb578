/**
 * The event a CloudWatch alarm sends when its action is a Lambda function (one
 * asynchronous invocation per state change). Only the fields the quarantine Lambda
 * reads are typed; the payload carries the metric's dimensions but no log event.
 */
export interface AlarmLambdaEvent {
  source: 'aws.cloudwatch';
  alarmArn: string;
  accountId: string;
  time: string;
  region: string;
  alarmData: {
    alarmName: string;
    state: { value: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'; reason?: string; timestamp?: string };
    previousState?: { value: string; reason?: string; timestamp?: string };
    configuration: {
      description?: string;
      metrics: {
        id: string;
        metricStat?: {
          metric: { namespace: string; name: string; dimensions?: Record<string, string> };
          period: number;
          stat: string;
          unit?: string;
        };
        returnData?: boolean;
      }[];
    };
  };
}

/** What `quarantine()` returns (and the handler's result, visible in its log). */
export type QuarantineResult =
  | { action: 'ignored'; reason: string }
  | { action: 'quarantined'; user: string; lookup: 'ok' | 'failed'; notified: boolean };

/** Size of the inline handler text in bytes (CloudFormation: the zip ≤ 4 MB). */
export function handlerSourceBytes(source: string): number {
  return Buffer.byteLength(source, 'utf8');
}
