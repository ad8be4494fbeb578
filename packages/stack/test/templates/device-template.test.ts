import { describe, expect, it } from 'vitest';
import { GUARD_METRIC_NAME, GUARD_METRIC_NAMESPACE } from '../../src/guard-pattern.js';
import {
  DeviceIds,
  deviceStackName,
  deviceTemplate,
  GUARD_ALARM_NAME_PREFIX,
  GuardOutputs,
  guardAlarmName,
  guardFunctionExportName,
  guardTemplate,
  type PolicyDocument,
  renderTemplates,
} from '../../src/templates/index.js';
import { validateTemplate } from './cfn-spec.js';

const policyDocument: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['s3:PutObject'],
      Resource: 'arn:aws:s3:::my-backups/devices/laptop/*',
    },
  ],
};

const template = deviceTemplate({ deviceUser: 'laptop', policyDocument });
const props = (id: string) => template.Resources[id]!.Properties as Record<string, unknown>;
const FUNCTION_IMPORT = { 'Fn::ImportValue': guardFunctionExportName('backupctl-guard') };

describe('device template', () => {
  it('matches the CloudFormation resource specification, in both guard wirings', async () => {
    expect(await validateTemplate(template)).toEqual([]);
    const withArn = deviceTemplate({
      deviceUser: 'laptop',
      policyDocument,
      guard: { functionArn: 'arn:aws:lambda:eu-central-1:111122223333:function:backupctl-guard-Fn-1' },
    });
    expect(await validateTemplate(withArn)).toEqual([]);
  });

  it('creates the user under /backupctl/ with the generated policy (and no access key)', () => {
    expect(template.Resources[DeviceIds.user]).toEqual({
      Type: 'AWS::IAM::User',
      Properties: { UserName: 'laptop', Path: '/backupctl/' },
    });
    expect(template.Resources[DeviceIds.policy]!.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(props(DeviceIds.policy)).toMatchObject({
      PolicyDocument: policyDocument,
      Users: [{ Ref: DeviceIds.user }],
    });
    expect(Object.values(template.Resources).map((r) => r.Type)).not.toContain('AWS::IAM::AccessKey');
  });

  it("alarms on the guard metric for this user on the first event and invokes the guard's Lambda", () => {
    expect(template.Resources[DeviceIds.alarm]!.Type).toBe('AWS::CloudWatch::Alarm');
    expect(props(DeviceIds.alarm)).toMatchObject({
      AlarmName: guardAlarmName('laptop'),
      Namespace: GUARD_METRIC_NAMESPACE,
      MetricName: GUARD_METRIC_NAME,
      Dimensions: [{ Name: 'User', Value: { Ref: DeviceIds.user } }],
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      ActionsEnabled: true,
      AlarmActions: [FUNCTION_IMPORT],
    });
  });

  it('holds no Lambda permission: the guard stack has one for every alarm under its prefix', () => {
    expect(Object.values(template.Resources).map((r) => r.Type)).not.toContain('AWS::Lambda::Permission');
    expect(guardAlarmName('laptop').startsWith(GUARD_ALARM_NAME_PREFIX)).toBe(true);
  });

  it('imports exactly what the guard stack exports', () => {
    const exportName = guardTemplate().Outputs![GuardOutputs.functionArn]!.Export!.Name as {
      'Fn::Sub': string;
    };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
    expect(exportName['Fn::Sub'].replace('${AWS::StackName}', 'backupctl-guard')).toBe(
      FUNCTION_IMPORT['Fn::ImportValue'],
    );
  });

  it('can take the function ARN as a parameter instead', () => {
    const t = deviceTemplate({ deviceUser: 'laptop', policyDocument, guard: { functionArn: 'arn:x' } });
    expect(t.Parameters!.GuardFunctionArn!.Default).toBe('arn:x');
    expect((t.Resources[DeviceIds.alarm]!.Properties as Record<string, unknown>).AlarmActions).toEqual([
      { Ref: 'GuardFunctionArn' },
    ]);
  });

  it('refuses a user name IAM would refuse', () => {
    expect(() => deviceTemplate({ deviceUser: 'bad name', policyDocument })).toThrow(TypeError);
    expect(() => deviceTemplate({ deviceUser: 'x'.repeat(65), policyDocument })).toThrow(TypeError);
  });

  it('renders the guard and each device to JSON files', () => {
    const rendered = renderTemplates({ guard: {}, devices: [{ deviceUser: 'laptop', policyDocument }] });
    expect(rendered.map((r) => [r.kind, r.stackName, r.fileName])).toEqual([
      ['guard', 'backupctl-guard', 'backupctl-guard.template.json'],
      ['device', deviceStackName('laptop'), 'backupctl-device-laptop.template.json'],
    ]);
    expect(JSON.parse(rendered[1]!.body)).toEqual(template);
  });
});
