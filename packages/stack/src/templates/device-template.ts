import {
  GUARD_IAM_PATH,
  GUARD_METRIC_DIMENSION_NAME,
  GUARD_METRIC_NAME,
  GUARD_METRIC_NAMESPACE,
} from '../guard-pattern.js';
import { type CfnTemplate, type CfnValue, getAtt, importValue, ref } from './cfn.js';
import { GUARD_ALARM_NAME_PREFIX, guardFunctionExportName, TEMPLATE_VERSION } from './guard-template.js';

/** An IAM policy document (the device's, generated from core's access manifest). */
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Record<string, unknown>[];
}

export interface DeviceTemplateOptions {
  /** IAM user name of the device (created under the path `/backupctl/`). */
  deviceUser: string;
  /** The device's policy, generated from the access manifest; never hand-written. */
  policyDocument: PolicyDocument;
  /**
   * Where the quarantine Lambda's ARN comes from: the guard stack's export (default,
   * `backupctl-guard`) — which also stops the guard stack from being deleted while a
   * device depends on it — or a `GuardFunctionArn` parameter (default value given).
   */
  guard?: { stackName: string } | { functionArn: string };
}

export const DeviceIds = {
  user: 'DeviceUser',
  policy: 'DevicePolicy',
  alarm: 'GuardAlarm',
} as const;

export const DeviceOutputs = {
  userName: 'DeviceUserName',
  userArn: 'DeviceUserArn',
  policyArn: 'DevicePolicyArn',
  alarmName: 'GuardAlarmName',
  templateVersion: 'TemplateVersion',
} as const;

/** IAM user names: up to 64 of `[\w+=,.@-]`. */
const IAM_USER_NAME = /^[\w+=,.@-]{1,64}$/;

/**
 * The alarm's name for a device user: fixed, so that `recover` can find it, and under
 * `GUARD_ALARM_NAME_PREFIX`, which the guard stack's one invoke permission covers.
 */
export function guardAlarmName(deviceUser: string): string {
  return `${GUARD_ALARM_NAME_PREFIX}${deviceUser}`;
}

/**
 * The device stack, one per device: the IAM user under `/backupctl/`, its managed
 * policy (a managed policy holds 6,144 characters; an inline user policy only 2,048),
 * and the alarm on the guard metric for `User=<that user>`, which invokes the quarantine
 * Lambda directly. No Lambda permission here: the guard stack holds one for every alarm
 * under `GUARD_ALARM_NAME_PREFIX` (a function policy is limited to 20 KB, ~45 per-device
 * permissions).
 */
export function deviceTemplate(options: DeviceTemplateOptions): CfnTemplate {
  const { deviceUser, policyDocument } = options;
  if (!IAM_USER_NAME.test(deviceUser)) {
    throw new TypeError(
      `deviceUser must be an IAM user name (1-64 of [A-Za-z0-9+=,.@_-]), got ${deviceUser}`,
    );
  }
  const guard = options.guard ?? { stackName: 'backupctl-guard' };
  const parameters: CfnTemplate['Parameters'] = {};
  let functionArn: CfnValue;
  if ('functionArn' in guard) {
    parameters.GuardFunctionArn = {
      Type: 'String',
      Description: "ARN of the guard stack's quarantine Lambda",
      Default: guard.functionArn,
      AllowedPattern: '^arn:[\\w-]+:lambda:[\\w-]+:\\d{12}:function:[\\w-]+$',
    };
    functionArn = ref('GuardFunctionArn');
  } else {
    functionArn = importValue(guardFunctionExportName(guard.stackName));
  }
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `backupctl device ${TEMPLATE_VERSION}: IAM user ${deviceUser}, its policy, and the guard alarm that quarantines it`,
    Metadata: { 'backupctl:template': 'device', 'backupctl:version': TEMPLATE_VERSION },
    ...(Object.keys(parameters).length > 0 ? { Parameters: parameters } : {}),
    Resources: {
      [DeviceIds.user]: {
        Type: 'AWS::IAM::User',
        Properties: { UserName: deviceUser, Path: GUARD_IAM_PATH },
      },
      [DeviceIds.policy]: {
        Type: 'AWS::IAM::ManagedPolicy',
        Properties: {
          Description: `backupctl device ${deviceUser}: generated from the access manifest`,
          Path: GUARD_IAM_PATH,
          PolicyDocument: policyDocument as unknown as CfnValue,
          Users: [ref(DeviceIds.user)],
        },
      },
      [DeviceIds.alarm]: {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: {
          AlarmName: guardAlarmName(deviceUser),
          AlarmDescription: `backupctl guard: ${deviceUser} made a denied or GetCallerIdentity call; the action quarantines it`,
          Namespace: GUARD_METRIC_NAMESPACE,
          MetricName: GUARD_METRIC_NAME,
          Dimensions: [{ Name: GUARD_METRIC_DIMENSION_NAME, Value: ref(DeviceIds.user) }],
          Statistic: 'Sum',
          Period: 60,
          EvaluationPeriods: 1,
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
          ActionsEnabled: true,
          AlarmActions: [functionArn],
        },
      },
    },
    Outputs: {
      [DeviceOutputs.userName]: { Description: 'IAM user of the device', Value: ref(DeviceIds.user) },
      [DeviceOutputs.userArn]: { Description: 'ARN of the IAM user', Value: getAtt(DeviceIds.user, 'Arn') },
      [DeviceOutputs.policyArn]: { Description: 'ARN of the device policy', Value: ref(DeviceIds.policy) },
      [DeviceOutputs.alarmName]: { Description: 'Guard alarm of the device', Value: ref(DeviceIds.alarm) },
      [DeviceOutputs.templateVersion]: {
        Description: 'backupctl device template version',
        Value: TEMPLATE_VERSION,
      },
    },
  };
}

/** Default stack name of a device's stack. */
export function deviceStackName(deviceUser: string): string {
  return `backupctl-device-${deviceUser.replace(/[^A-Za-z0-9-]/g, '-')}`;
}
