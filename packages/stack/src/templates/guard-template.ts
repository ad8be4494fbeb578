import {
  GUARD_IAM_PATH,
  GUARD_METRIC_DIMENSION_NAME,
  GUARD_METRIC_DIMENSION_SELECTOR,
  GUARD_METRIC_NAME,
  GUARD_METRIC_NAMESPACE,
  GUARD_METRIC_VALUE,
  guardFilterPatternSub,
} from '../guard-pattern.js';
import { QUARANTINE_HANDLER_SOURCE } from '../lambda/quarantine-handler-source.js';
import { type CfnTemplate, getAtt, ref, sub } from './cfn.js';
import { logEventsConsoleUrl } from './console-links.js';

/** Version of the guard and device templates; bump on every change to either. */
export const TEMPLATE_VERSION = '1.1.0';

/** A Lambda runtime with years of support left (nodejs20.x is deprecated). */
export const QUARANTINE_LAMBDA_RUNTIME = 'nodejs24.x';

/** Retention values CloudWatch Logs accepts for `RetentionInDays`. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Logical ids and output names other code relies on (deploy, recover, device stacks). */
export const GuardIds = {
  metricFilter: 'GuardMetricFilter',
  topic: 'GuardTopic',
  subscription: 'GuardEmailSubscription',
  functionLogGroup: 'QuarantineLogGroup',
  role: 'QuarantineRole',
  function: 'QuarantineFunction',
  invokeConfig: 'QuarantineInvokeConfig',
  alarmPermission: 'GuardAlarmsInvokePermission',
  sweepRule: 'QuarantineSweepRule',
  sweepPermission: 'QuarantineSweepInvokePermission',
} as const;

/**
 * Every device alarm's name starts with this (`guardAlarmName`): the guard stack's one
 * invoke permission covers them all by it, and the sweep lists the alarms by it.
 */
export const GUARD_ALARM_NAME_PREFIX = 'backupctl-guard-';

/** How often the sweep re-applies the quarantine of every user whose alarm is in ALARM. */
export const QUARANTINE_SWEEP_SCHEDULE = 'rate(5 minutes)';

export const GuardOutputs = {
  functionArn: 'QuarantineFunctionArn',
  topicArn: 'GuardTopicArn',
  eventsConsoleUrl: 'GuardEventsConsoleUrl',
  templateVersion: 'TemplateVersion',
  metricNamespace: 'GuardMetricNamespace',
  metricName: 'GuardMetricName',
} as const;

/** The export a device stack imports to find the quarantine Lambda. */
export function guardFunctionExportName(guardStackName: string): string {
  return `${guardStackName}-${GuardOutputs.functionArn}`;
}

export const DEFAULT_GUARD_STACK_NAME = 'backupctl-guard';
export const DEFAULT_TRAIL_LOG_GROUP = 'backupctl-cloudtrail';

export interface GuardTemplateOptions {
  /** Default of the `TrailLogGroupName` parameter: the trail's CloudWatch Logs group. */
  trailLogGroupName?: string;
  /** Default of the `NotificationEmail` parameter; empty means no subscription. */
  notificationEmail?: string;
  /** Default of `LogRetentionInDays` for the Lambda's own log group (365). */
  logRetentionDays?: (typeof LOG_RETENTION_DAYS)[number];
  /**
   * Default of the `ReservedConcurrency` parameter (0: none, the default). New accounts have
   * a concurrency quota of 10 and CloudFormation cannot reserve any there, so the guard
   * would fail to deploy; reserve only where the account's quota allows it.
   */
  reservedConcurrency?: number;
  /** How far back the Lambda looks for the offending events, in minutes (60). */
  lookbackMinutes?: number;
}

/**
 * The guard stack, one per account and region of the trail's log group: the metric
 * filter with the `User` dimension, the quarantine Lambda with its own log group and a
 * least-privilege role, the SNS topic and the outputs.
 */
export function guardTemplate(options: GuardTemplateOptions = {}): CfnTemplate {
  // Always pinned to the account the stack is deployed in (see guard-pattern.ts).
  const patternSub = guardFilterPatternSub();
  const pattern = sub(patternSub);
  const reserved = options.reservedConcurrency ?? 0;
  if (!Number.isInteger(reserved) || reserved < 0 || reserved > 1000) {
    throw new TypeError(`reservedConcurrency must be an integer from 0 to 1000, got ${reserved}`);
  }
  const lookback = options.lookbackMinutes ?? 60;
  if (!Number.isInteger(lookback) || lookback < 1 || lookback > 1440) {
    throw new TypeError(`lookbackMinutes must be an integer from 1 to 1440, got ${lookback}`);
  }
  // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
  const denyAllArn = sub('arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll');
  const trailLogGroupArn = sub(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
    'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${TrailLogGroupName}',
  );
  const guardAlarmsArn = sub(
    `arn:\${AWS::Partition}:cloudwatch:\${AWS::Region}:\${AWS::AccountId}:alarm:${GUARD_ALARM_NAME_PREFIX}*`,
  );
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `backupctl guard ${TEMPLATE_VERSION}: quarantines a backupctl device user (IAM path ${GUARD_IAM_PATH}) on its first denied or GetCallerIdentity call`,
    Metadata: { 'backupctl:template': 'guard', 'backupctl:version': TEMPLATE_VERSION },
    Parameters: {
      TrailLogGroupName: {
        Type: 'String',
        Description: 'The CloudWatch Logs group a multi-region CloudTrail trail delivers to',
        Default: options.trailLogGroupName ?? DEFAULT_TRAIL_LOG_GROUP,
        AllowedPattern: '[\\.\\-_/#A-Za-z0-9]{1,512}',
        ConstraintDescription: 'a CloudWatch Logs group name',
      },
      NotificationEmail: {
        Type: 'String',
        Description: 'E-mail address told of every quarantine (empty: no subscription)',
        Default: options.notificationEmail ?? '',
        AllowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
        ConstraintDescription: 'an e-mail address or empty',
      },
      LogRetentionInDays: {
        Type: 'Number',
        Description: "Retention of the quarantine Lambda's own log group",
        Default: options.logRetentionDays ?? 365,
        AllowedValues: [...LOG_RETENTION_DAYS],
      },
      ReservedConcurrency: {
        Type: 'Number',
        Description:
          'Reserved concurrency of the quarantine Lambda; 0 = none. Reserve only if the account quota allows (new accounts: no)',
        Default: reserved,
        MinValue: 0,
        MaxValue: 1000,
      },
    },
    Conditions: {
      HasNotificationEmail: { 'Fn::Not': [{ 'Fn::Equals': [ref('NotificationEmail'), ''] }] },
      HasReservedConcurrency: { 'Fn::Not': [{ 'Fn::Equals': [ref('ReservedConcurrency'), '0'] }] },
    },
    Resources: {
      [GuardIds.metricFilter]: {
        Type: 'AWS::Logs::MetricFilter',
        Properties: {
          FilterName: 'backupctl-guard',
          LogGroupName: ref('TrailLogGroupName'),
          FilterPattern: pattern,
          MetricTransformations: [
            {
              MetricValue: GUARD_METRIC_VALUE,
              MetricNamespace: GUARD_METRIC_NAMESPACE,
              MetricName: GUARD_METRIC_NAME,
              Dimensions: [{ Key: GUARD_METRIC_DIMENSION_NAME, Value: GUARD_METRIC_DIMENSION_SELECTOR }],
              Unit: 'Count',
            },
          ],
        },
      },
      [GuardIds.topic]: {
        Type: 'AWS::SNS::Topic',
        Properties: { DisplayName: 'backupctl guard' },
      },
      [GuardIds.subscription]: {
        Type: 'AWS::SNS::Subscription',
        Condition: 'HasNotificationEmail',
        Properties: { Protocol: 'email', TopicArn: ref(GuardIds.topic), Endpoint: ref('NotificationEmail') },
      },
      [GuardIds.functionLogGroup]: {
        Type: 'AWS::Logs::LogGroup',
        // The quarantine log is evidence: keep it when the stack goes.
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: { RetentionInDays: ref('LogRetentionInDays') },
      },
      [GuardIds.role]: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Description:
            'backupctl quarantine Lambda: attach AWSDenyAll to backupctl device users, read the trail, notify',
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
            ],
          },
          Policies: [
            {
              PolicyName: 'quarantine',
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  {
                    Sid: 'AttachDenyAllToDeviceUsersOnly',
                    Effect: 'Allow',
                    Action: 'iam:AttachUserPolicy',
                    Resource: sub(`arn:\${AWS::Partition}:iam::\${AWS::AccountId}:user${GUARD_IAM_PATH}*`),
                    Condition: { ArnEquals: { 'iam:PolicyARN': denyAllArn } },
                  },
                  {
                    // The sweep: is the quarantine (still) attached to the user of an alarm in ALARM?
                    Sid: 'ReadDeviceUsersPolicies',
                    Effect: 'Allow',
                    Action: 'iam:ListAttachedUserPolicies',
                    Resource: sub(`arn:\${AWS::Partition}:iam::\${AWS::AccountId}:user${GUARD_IAM_PATH}*`),
                  },
                  {
                    Sid: 'ReadGuardAlarms',
                    Effect: 'Allow',
                    Action: 'cloudwatch:DescribeAlarms',
                    Resource: guardAlarmsArn,
                  },
                  {
                    Sid: 'ReadTheTrail',
                    Effect: 'Allow',
                    Action: 'logs:FilterLogEvents',
                    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
                    Resource: [trailLogGroupArn, sub('${Arn}:*', { Arn: trailLogGroupArn })],
                  },
                  { Sid: 'Notify', Effect: 'Allow', Action: 'sns:Publish', Resource: ref(GuardIds.topic) },
                  {
                    Sid: 'WriteOwnLog',
                    Effect: 'Allow',
                    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                    Resource: sub(
                      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
                      'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${' +
                        GuardIds.functionLogGroup +
                        '}:*',
                    ),
                  },
                ],
              },
            },
          ],
        },
      },
      [GuardIds.function]: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Description:
            'backupctl guard: quarantine the device user named by the alarm (AWSDenyAll), then report',
          Runtime: QUARANTINE_LAMBDA_RUNTIME,
          Architectures: ['arm64'],
          Handler: 'index.handler',
          Role: getAtt(GuardIds.role, 'Arn'),
          Code: { ZipFile: QUARANTINE_HANDLER_SOURCE },
          MemorySize: 256,
          Timeout: 60,
          // None by default: new accounts (quota 10) cannot reserve any, and the deploy would fail.
          ReservedConcurrentExecutions: {
            'Fn::If': ['HasReservedConcurrency', ref('ReservedConcurrency'), ref('AWS::NoValue')],
          },
          LoggingConfig: {
            LogFormat: 'JSON',
            LogGroup: ref(GuardIds.functionLogGroup),
            ApplicationLogLevel: 'INFO',
            SystemLogLevel: 'WARN',
          },
          Environment: {
            Variables: {
              TOPIC_ARN: ref(GuardIds.topic),
              TRAIL_LOG_GROUP: ref('TrailLogGroupName'),
              GUARD_PATTERN: pattern,
              DENY_ALL_ARN: denyAllArn,
              ALARM_NAME_PREFIX: GUARD_ALARM_NAME_PREFIX,
              LOOKBACK_MINUTES: String(lookback),
            },
          },
        },
      },
      [GuardIds.invokeConfig]: {
        Type: 'AWS::Lambda::EventInvokeConfig',
        Properties: {
          FunctionName: ref(GuardIds.function),
          Qualifier: '$LATEST',
          MaximumRetryAttempts: 2,
          MaximumEventAgeInSeconds: 3600,
          // When every attempt failed, the owner still hears of it.
          DestinationConfig: { OnFailure: { Destination: ref(GuardIds.topic) } },
        },
      },
      // ONE permission for every device's alarm (a function policy holds 20 KB: one per
      // device would stop at about 45 devices): alarms of this account and region whose name
      // starts with the guard's prefix. Lambda matches SourceArn with ArnLike.
      [GuardIds.alarmPermission]: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          FunctionName: getAtt(GuardIds.function, 'Arn'),
          Action: 'lambda:InvokeFunction',
          Principal: 'lambda.alarms.cloudwatch.amazonaws.com',
          SourceArn: guardAlarmsArn,
          SourceAccount: ref('AWS::AccountId'),
        },
      },
      // An alarm invokes its action once per state change: if every attempt to quarantine
      // fails (Lambda retries twice), the alarm stays in ALARM and never asks again. The
      // sweep re-applies the quarantine of every user whose guard alarm is in ALARM.
      [GuardIds.sweepRule]: {
        Type: 'AWS::Events::Rule',
        Properties: {
          Description: 'backupctl guard: re-apply the quarantine while a guard alarm is in ALARM',
          ScheduleExpression: QUARANTINE_SWEEP_SCHEDULE,
          State: 'ENABLED',
          Targets: [
            { Arn: getAtt(GuardIds.function, 'Arn'), Id: 'quarantine-sweep', Input: '{"backupctl":"sweep"}' },
          ],
        },
      },
      [GuardIds.sweepPermission]: {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          FunctionName: getAtt(GuardIds.function, 'Arn'),
          Action: 'lambda:InvokeFunction',
          Principal: 'events.amazonaws.com',
          SourceArn: getAtt(GuardIds.sweepRule, 'Arn'),
          SourceAccount: ref('AWS::AccountId'),
        },
      },
    },
    Outputs: {
      [GuardOutputs.functionArn]: {
        Description: 'ARN of the quarantine Lambda (the device alarms invoke it)',
        Value: getAtt(GuardIds.function, 'Arn'),
        Export: { Name: sub(`\${AWS::StackName}-${GuardOutputs.functionArn}`) },
      },
      [GuardOutputs.topicArn]: {
        Description: 'SNS topic told of every quarantine',
        Value: ref(GuardIds.topic),
      },
      [GuardOutputs.eventsConsoleUrl]: {
        Description: 'CloudWatch console: the trail events that trip the guard',
        Value: logEventsConsoleUrl(ref('TrailLogGroupName'), patternSub),
      },
      [GuardOutputs.templateVersion]: {
        Description: 'backupctl guard template version',
        Value: TEMPLATE_VERSION,
      },
      [GuardOutputs.metricNamespace]: { Description: 'Metric namespace', Value: GUARD_METRIC_NAMESPACE },
      [GuardOutputs.metricName]: { Description: 'Metric name (dimension User)', Value: GUARD_METRIC_NAME },
    },
  };
}
