import { runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import {
  GUARD_METRIC_DIMENSION_NAME,
  GUARD_METRIC_NAME,
  GUARD_METRIC_NAMESPACE,
  guardFilterPattern,
  guardFilterPatternSub,
} from '../../src/guard-pattern.js';
import { QUARANTINE_HANDLER_SOURCE } from '../../src/lambda/index.js';
import {
  type CfnTemplate,
  consoleFragmentEncode,
  GUARD_ALARM_NAME_PREFIX,
  GuardIds,
  GuardOutputs,
  guardAlarmName,
  guardTemplate,
  QUARANTINE_SWEEP_SCHEDULE,
  renderTemplate,
  TEMPLATE_VERSION,
} from '../../src/templates/index.js';
import { validateTemplate } from './cfn-spec.js';
import { resolve } from './resolve.js';

const ACCOUNT = '111122223333';
const REGION = 'eu-central-1';
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:backupctl-guard-GuardTopic-ABC`;
const OWN_LOG_GROUP = 'backupctl-guard-QuarantineLogGroup-XYZ';
const TRAIL_LOG_GROUP = 'aws-cloudtrail-logs/main#1';

const ctx = {
  refs: {
    'AWS::Partition': 'aws',
    'AWS::AccountId': ACCOUNT,
    'AWS::Region': REGION,
    'AWS::StackName': 'backupctl-guard',
    TrailLogGroupName: TRAIL_LOG_GROUP,
    NotificationEmail: 'owner@example.com',
    LogRetentionInDays: '365',
    [GuardIds.topic]: TOPIC,
    [GuardIds.functionLogGroup]: OWN_LOG_GROUP,
    [GuardIds.function]: 'backupctl-guard-QuarantineFunction-123',
  },
  attributes: {
    [`${GuardIds.role}.Arn`]: `arn:aws:iam::${ACCOUNT}:role/backupctl-guard-QuarantineRole-1`,
    [`${GuardIds.function}.Arn`]: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:backupctl-guard-QuarantineFunction-123`,
  },
};

const template = guardTemplate();
const resources = template.Resources;
const props = (id: string) => resources[id]!.Properties as Record<string, unknown>;

function rolePolicy(t: CfnTemplate = template): unknown {
  const role = t.Resources[GuardIds.role]!.Properties as { Policies: { PolicyDocument: unknown }[] };
  expect(role.Policies).toHaveLength(1);
  return resolve(role.Policies[0]!.PolicyDocument, ctx);
}

async function simulate(
  action: string,
  resource: string,
  contextVariables: Record<string, string> = {},
): Promise<string> {
  const result = await runSimulation(
    {
      identityPolicies: [{ name: 'quarantine', policy: rolePolicy() }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action,
        principal: `arn:aws:sts::${ACCOUNT}:assumed-role/backupctl-guard-QuarantineRole-1/fn`,
        resource: { resource, accountId: ACCOUNT },
        contextVariables,
      },
    },
    { simulationMode: 'Strict' },
  );
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  if (result.resultType !== 'single') throw new Error(`unexpected ${result.resultType}`);
  return result.overallResult;
}

const DENY_ALL = 'arn:aws:iam::aws:policy/AWSDenyAll';
const user = (path: string) => `arn:aws:iam::${ACCOUNT}:user${path}`;

describe('guard template: CloudFormation resource specification', () => {
  it('has only known resource types, properties, attributes and references, with the right types', async () => {
    expect(await validateTemplate(template)).toEqual([]);
    expect(
      await validateTemplate(guardTemplate({ reservedConcurrency: 2, notificationEmail: 'a@b.c' })),
    ).toEqual([]);
  });

  it('the validator does catch an unknown property, a wrong type and a dangling Ref', async () => {
    const broken = structuredClone(template);
    (broken.Resources[GuardIds.function]!.Properties as Record<string, unknown>).Runtimee = 'nodejs24.x';
    (broken.Resources[GuardIds.function]!.Properties as Record<string, unknown>).Timeout = '60';
    (broken.Resources[GuardIds.topic]!.Properties as Record<string, unknown>).TopicName = { Ref: 'Nope' };
    const errors = await validateTemplate(broken);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringContaining('unknown property Runtimee'),
        expect.stringContaining('Timeout: expected integer'),
        expect.stringContaining('Ref to unknown Nope'),
      ]),
    );
  });
});

describe('guard template: what it does', () => {
  it('counts the guard pattern per user with a User dimension', () => {
    const filter = resources[GuardIds.metricFilter]!;
    expect(filter.Type).toBe('AWS::Logs::MetricFilter');
    expect(filter.Properties.LogGroupName).toEqual({ Ref: 'TrailLogGroupName' });
    // Always pinned to the account the stack is deployed in, by Fn::Sub.
    expect(filter.Properties.FilterPattern).toEqual({ 'Fn::Sub': guardFilterPatternSub() });
    expect(resolve(filter.Properties.FilterPattern, ctx)).toBe(guardFilterPattern({ accountId: ACCOUNT }));
    expect(filter.Properties.MetricTransformations).toEqual([
      {
        MetricValue: '1',
        MetricNamespace: GUARD_METRIC_NAMESPACE,
        MetricName: GUARD_METRIC_NAME,
        Dimensions: [{ Key: GUARD_METRIC_DIMENSION_NAME, Value: '$.userIdentity.userName' }],
        Unit: 'Count',
      },
    ]);
  });

  it('runs the inline handler on a supported runtime, with no reserved concurrency unless asked, with a bounded timeout', () => {
    const fn = props(GuardIds.function);
    expect(resources[GuardIds.function]!.Type).toBe('AWS::Lambda::Function');
    expect(['nodejs22.x', 'nodejs24.x']).toContain(fn.Runtime);
    expect(fn.Handler).toBe('index.handler');
    expect(fn.Code).toEqual({ ZipFile: QUARANTINE_HANDLER_SOURCE });
    // New accounts (concurrency quota 10) cannot reserve any: none by default, a parameter where a quota allows.
    expect(fn.ReservedConcurrentExecutions).toEqual({
      'Fn::If': ['HasReservedConcurrency', { Ref: 'ReservedConcurrency' }, { Ref: 'AWS::NoValue' }],
    });
    expect(template.Parameters!.ReservedConcurrency!.Default).toBe(0);
    expect(template.Conditions!.HasReservedConcurrency).toEqual({
      'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'ReservedConcurrency' }, '0'] }],
    });
    expect(guardTemplate({ reservedConcurrency: 3 }).Parameters!.ReservedConcurrency!.Default).toBe(3);
    expect(() => guardTemplate({ reservedConcurrency: -1 })).toThrow(TypeError);
    expect(fn.Timeout).toBeGreaterThanOrEqual(30);
    expect(fn.Timeout).toBeLessThanOrEqual(120);
    expect(fn.LoggingConfig).toMatchObject({
      LogFormat: 'JSON',
      LogGroup: { Ref: GuardIds.functionLogGroup },
    });
    const env = resolve((fn.Environment as { Variables: unknown }).Variables, ctx);
    expect(env).toEqual({
      TOPIC_ARN: TOPIC,
      TRAIL_LOG_GROUP: TRAIL_LOG_GROUP,
      GUARD_PATTERN: guardFilterPattern({ accountId: ACCOUNT }),
      DENY_ALL_ARN: DENY_ALL,
      ALARM_NAME_PREFIX: 'backupctl-guard-',
      LOOKBACK_MINUTES: '60',
    });
  });

  it('no resource anywhere uses a deprecated Node.js runtime', () => {
    expect(renderTemplate(template)).not.toMatch(/nodejs(1\d|20)\.x/);
  });

  it("keeps the Lambda's own log with a retention, and the log group outlives the stack", () => {
    const group = resources[GuardIds.functionLogGroup]!;
    expect(group.Type).toBe('AWS::Logs::LogGroup');
    expect(group.Properties.RetentionInDays).toEqual({ Ref: 'LogRetentionInDays' });
    expect(template.Parameters!.LogRetentionInDays!.Default).toBe(365);
    expect(group.DeletionPolicy).toBe('Retain');
    expect(guardTemplate({ logRetentionDays: 30 }).Parameters!.LogRetentionInDays!.Default).toBe(30);
  });

  it('e-mails the owner only when an address is given, and sends failed invocations to the topic', () => {
    const sub = resources[GuardIds.subscription]!;
    expect(sub.Condition).toBe('HasNotificationEmail');
    expect(sub.Properties).toMatchObject({ Protocol: 'email', TopicArn: { Ref: GuardIds.topic } });
    expect(template.Conditions!.HasNotificationEmail).toEqual({
      'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'NotificationEmail' }, ''] }],
    });
    expect(props(GuardIds.invokeConfig).DestinationConfig).toEqual({
      OnFailure: { Destination: { Ref: GuardIds.topic } },
    });
    const pattern = new RegExp(template.Parameters!.NotificationEmail!.AllowedPattern!);
    expect(pattern.test('')).toBe(true);
    expect(pattern.test('owner@example.com')).toBe(true);
    expect(pattern.test('not an address')).toBe(false);
  });

  it('outputs the function (exported), the topic, the version and a console link to the matching events', () => {
    const outputs = template.Outputs!;
    expect(outputs[GuardOutputs.functionArn]!.Export).toEqual({
      Name: { 'Fn::Sub': `\${AWS::StackName}-${GuardOutputs.functionArn}` },
    });
    expect(outputs[GuardOutputs.templateVersion]!.Value).toBe(TEMPLATE_VERSION);
    expect(resolve(outputs[GuardOutputs.topicArn]!.Value, ctx)).toBe(TOPIC);
    const url = resolve(outputs[GuardOutputs.eventsConsoleUrl]!.Value, ctx) as string;
    expect(url).toBe(
      `https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#logsV2:log-groups/log-group/` +
        `aws-cloudtrail-logs$252Fmain$25231/log-events$3FfilterPattern$3D${consoleFragmentEncode(guardFilterPattern({ accountId: ACCOUNT }))}`,
    );
    // The console decodes `$` as `%`, twice: what it filters with is the (pinned) guard pattern.
    const fragment = url.split('$3FfilterPattern$3D')[1]!;
    expect(decodeURIComponent(decodeURIComponent(fragment.replaceAll('$', '%')))).toBe(
      guardFilterPattern({ accountId: ACCOUNT }),
    );
  });

  it('renders to JSON within the inline template limit', () => {
    const body = renderTemplate(template);
    expect(JSON.parse(body)).toEqual(template);
    expect(Buffer.byteLength(body)).toBeLessThan(51_200);
  });
});

describe('guard template: who may invoke the Lambda', () => {
  /** Lambda matches SourceArn with ArnLike: `*` spans any characters. */
  const arnLike = (pattern: string, arn: string) =>
    new RegExp(
      `^${pattern
        .split('*')
        .map((p) => p.replace(/[.?+^$()[\]{}|\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(arn);
  const alarmArn = (name: string, account = ACCOUNT, region = REGION) =>
    `arn:aws:cloudwatch:${region}:${account}:alarm:${name}`;

  it("holds ONE permission for every device's alarm: the alarm name prefix, this account", () => {
    const permissions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Permission');
    expect(permissions).toHaveLength(2);
    const alarms = props(GuardIds.alarmPermission);
    expect(alarms).toMatchObject({
      FunctionName: { 'Fn::GetAtt': [GuardIds.function, 'Arn'] },
      Action: 'lambda:InvokeFunction',
      Principal: 'lambda.alarms.cloudwatch.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
    const sourceArn = resolve(alarms.SourceArn, ctx) as string;
    expect(sourceArn).toBe(alarmArn(`${GUARD_ALARM_NAME_PREFIX}*`));
    for (const device of ['backupctl-laptop', 'backupctl-a', 'backupctl-' + 'x'.repeat(54)]) {
      expect(arnLike(sourceArn, alarmArn(guardAlarmName(device)))).toBe(true);
    }
    for (const other of [
      alarmArn('someone-elses-alarm'),
      alarmArn(guardAlarmName('laptop'), '999988887777'),
      alarmArn(guardAlarmName('laptop'), ACCOUNT, 'us-east-1'),
    ]) {
      expect(arnLike(sourceArn, other)).toBe(false);
    }
  });

  it('runs a sweep every few minutes, invoked by its own schedule rule only', () => {
    const rule = resources[GuardIds.sweepRule]!;
    expect(rule.Type).toBe('AWS::Events::Rule');
    expect(rule.Properties).toMatchObject({
      ScheduleExpression: QUARANTINE_SWEEP_SCHEDULE,
      State: 'ENABLED',
    });
    const [target] = rule.Properties.Targets as { Arn: unknown; Input: string }[];
    expect(target!.Arn).toEqual({ 'Fn::GetAtt': [GuardIds.function, 'Arn'] });
    expect(JSON.parse(target!.Input)).toEqual({ backupctl: 'sweep' });
    expect(props(GuardIds.sweepPermission)).toEqual({
      FunctionName: { 'Fn::GetAtt': [GuardIds.function, 'Arn'] },
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [GuardIds.sweepRule, 'Arn'] },
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
  });
});

describe('guard template: the Lambda role may attach AWSDenyAll to backupctl users and nothing else', () => {
  it('allows attaching AWSDenyAll to a user under /backupctl/', async () => {
    expect(
      await simulate('iam:AttachUserPolicy', user('/backupctl/laptop'), { 'iam:PolicyARN': DENY_ALL }),
    ).toBe('Allowed');
  });

  it('denies attaching any other policy, e.g. AdministratorAccess, or a customer policy', async () => {
    for (const policy of [
      'arn:aws:iam::aws:policy/AdministratorAccess',
      `arn:aws:iam::${ACCOUNT}:policy/AWSDenyAll`,
      'arn:aws:iam::aws:policy/AWSDenyAllX',
    ]) {
      expect(
        await simulate('iam:AttachUserPolicy', user('/backupctl/laptop'), { 'iam:PolicyARN': policy }),
      ).not.toBe('Allowed');
    }
  });

  it('denies users outside the path and in other accounts', async () => {
    for (const arn of [
      user('/laptop'),
      user('/admins/alice'),
      user('/backupctlx/laptop'),
      'arn:aws:iam::999988887777:user/backupctl/laptop',
    ]) {
      expect(await simulate('iam:AttachUserPolicy', arn, { 'iam:PolicyARN': DENY_ALL })).not.toBe('Allowed');
    }
  });

  it('denies everything else an attacker of the function would want', async () => {
    const target = user('/backupctl/laptop');
    for (const action of [
      'iam:DetachUserPolicy',
      'iam:PutUserPolicy',
      'iam:CreateAccessKey',
      'iam:DeleteAccessKey',
      'iam:UpdateAccessKey',
      'iam:DeleteUser',
    ]) {
      expect(await simulate(action, target, { 'iam:PolicyARN': DENY_ALL }), action).not.toBe('Allowed');
    }
    expect(
      simulate('iam:AttachRolePolicy', `arn:aws:iam::${ACCOUNT}:role/backupctl/x`, {
        'iam:PolicyARN': DENY_ALL,
      }),
    ).not.toBe('Allowed');
  });

  it('reads only the trail log group, publishes only to its topic, writes only its own log', async () => {
    const logGroup = (name: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}`;
    expect(await simulate('logs:FilterLogEvents', logGroup(TRAIL_LOG_GROUP))).toBe('Allowed');
    expect(await simulate('logs:FilterLogEvents', logGroup('other'))).not.toBe('Allowed');
    expect(await simulate('logs:FilterLogEvents', logGroup(OWN_LOG_GROUP))).not.toBe('Allowed');
    expect(await simulate('sns:Publish', TOPIC)).toBe('Allowed');
    expect(await simulate('sns:Publish', `arn:aws:sns:${REGION}:${ACCOUNT}:other`)).not.toBe('Allowed');
    const stream = (group: string) => `${logGroup(group)}:log-stream:2026/11/23/[$LATEST]abc`;
    expect(await simulate('logs:PutLogEvents', stream(OWN_LOG_GROUP))).toBe('Allowed');
    expect(await simulate('logs:CreateLogStream', stream(OWN_LOG_GROUP))).toBe('Allowed');
    expect(await simulate('logs:PutLogEvents', stream(TRAIL_LOG_GROUP))).not.toBe('Allowed');
    expect(await simulate('logs:DeleteLogGroup', logGroup(OWN_LOG_GROUP))).not.toBe('Allowed');
    expect(await simulate('logs:PutRetentionPolicy', logGroup(TRAIL_LOG_GROUP))).not.toBe('Allowed');
  });

  it("reads the guard alarms and the device users' attached policies (the sweep), nothing else", async () => {
    const alarm = (name: string) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${name}`;
    expect(await simulate('cloudwatch:DescribeAlarms', alarm(guardAlarmName('backupctl-laptop')))).toBe(
      'Allowed',
    );
    expect(await simulate('cloudwatch:DescribeAlarms', alarm('billing-alarm'))).not.toBe('Allowed');
    expect(await simulate('cloudwatch:SetAlarmState', alarm(guardAlarmName('backupctl-laptop')))).not.toBe(
      'Allowed',
    );
    expect(await simulate('cloudwatch:DeleteAlarms', alarm(guardAlarmName('backupctl-laptop')))).not.toBe(
      'Allowed',
    );
    expect(await simulate('iam:ListAttachedUserPolicies', user('/backupctl/laptop'))).toBe('Allowed');
    expect(await simulate('iam:ListAttachedUserPolicies', user('/admins/alice'))).not.toBe('Allowed');
  });

  it('the trust policy lets only Lambda assume the role', () => {
    const role = props(GuardIds.role) as { AssumeRolePolicyDocument: { Statement: unknown[] } };
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
  });

  it('every Allow statement names its resources: no "*"', () => {
    const doc = rolePolicy() as { Statement: { Resource: string | string[] }[] };
    for (const statement of doc.Statement) {
      for (const resource of [statement.Resource].flat()) expect(resource).not.toBe('*');
    }
  });
});
