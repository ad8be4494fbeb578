import { createRequire } from 'node:module';
import vm from 'node:vm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { guardFilterPattern } from '../../src/guard-pattern.js';
import type { AlarmLambdaEvent, QuarantineResult } from '../../src/lambda/index.js';
import { QUARANTINE_HANDLER_SOURCE } from '../../src/lambda/index.js';

// The Lambda is CommonJS: hand it the CommonJS builds of the SDK, and mock those classes.
const requireCjs = createRequire(import.meta.url);
const iamSdk = requireCjs('@aws-sdk/client-iam') as typeof import('@aws-sdk/client-iam');
const logsSdk = requireCjs(
  '@aws-sdk/client-cloudwatch-logs',
) as typeof import('@aws-sdk/client-cloudwatch-logs');
const snsSdk = requireCjs('@aws-sdk/client-sns') as typeof import('@aws-sdk/client-sns');
const cwSdk = requireCjs('@aws-sdk/client-cloudwatch') as typeof import('@aws-sdk/client-cloudwatch');

const RUNTIME_BUNDLED = new Set([
  '@aws-sdk/client-iam',
  '@aws-sdk/client-cloudwatch',
  '@aws-sdk/client-cloudwatch-logs',
  '@aws-sdk/client-sns',
]);

interface HandlerModule {
  handler(event: unknown): Promise<QuarantineResult>;
  quarantine(event: unknown, deps: unknown): Promise<QuarantineResult>;
}

/** Evaluates the exact inline source as Lambda would load `index.js`. */
function loadHandler(): HandlerModule {
  const module = { exports: {} as HandlerModule };
  const requireForLambda = (id: string): unknown => {
    if (!RUNTIME_BUNDLED.has(id)) throw new Error(`the Lambda runtime does not bundle ${id}`);
    return requireCjs(id);
  };
  const wrapper = new vm.Script(`(function (exports, require, module) {${QUARANTINE_HANDLER_SOURCE}\n})`, {
    filename: 'index.js',
  });
  wrapper.runInThisContext()(module.exports, requireForLambda, module);
  return module.exports;
}

const iam = mockClient(iamSdk.IAMClient);
const logs = mockClient(logsSdk.CloudWatchLogsClient);
const sns = mockClient(snsSdk.SNSClient);
const cw = mockClient(cwSdk.CloudWatchClient);

const ENV = {
  TOPIC_ARN: 'arn:aws:sns:eu-central-1:111122223333:backupctl-guard-GuardTopic-X',
  TRAIL_LOG_GROUP: 'backupctl-cloudtrail',
  GUARD_PATTERN: guardFilterPattern(),
  DENY_ALL_ARN: 'arn:aws:iam::aws:policy/AWSDenyAll',
  ALARM_NAME_PREFIX: 'backupctl-guard-',
  LOOKBACK_MINUTES: '60',
};

/** DescribeAlarms answers: the alarm is in `state` now. */
function alarmNow(state: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA', user = 'laptop') {
  return {
    MetricAlarms: [
      {
        AlarmName: `backupctl-guard-${user}`,
        StateValue: state,
        Dimensions: [{ Name: 'User', Value: user }],
      },
    ],
  };
}

function alarmEvent(state: 'ALARM' | 'OK', dimensions: Record<string, string> | undefined): AlarmLambdaEvent {
  return {
    source: 'aws.cloudwatch',
    alarmArn: 'arn:aws:cloudwatch:eu-central-1:111122223333:alarm:backupctl-guard-laptop',
    accountId: '111122223333',
    time: '2026-11-23T12:00:00.000+0000',
    region: 'eu-central-1',
    alarmData: {
      alarmName: 'backupctl-guard-laptop',
      state: { value: state, reason: 'Threshold Crossed', timestamp: '2026-11-23T12:00:00.000+0000' },
      previousState: { value: 'OK' },
      configuration: {
        metrics: [
          {
            id: 'm1',
            metricStat: {
              metric: {
                namespace: 'backupctl',
                name: 'DeniedOrIdentityCalls',
                ...(dimensions === undefined ? {} : { dimensions }),
              },
              period: 60,
              stat: 'Sum',
            },
            returnData: true,
          },
        ],
      },
    },
  };
}

const deniedRecord = {
  eventTime: '2026-11-23T11:55:01Z',
  eventSource: 'lambda.amazonaws.com',
  eventName: 'ListFunctions20150331',
  awsRegion: 'ap-southeast-4',
  sourceIPAddress: '203.0.113.7',
  userAgent: 'aws-cli/2.17.14',
  errorCode: 'AccessDenied',
  userIdentity: {
    type: 'IAMUser',
    userName: 'laptop',
    arn: 'arn:aws:iam::111122223333:user/backupctl/laptop',
  },
};
const identityRecord = {
  ...deniedRecord,
  eventTime: '2026-11-23T11:54:00Z',
  eventSource: 'sts.amazonaws.com',
  eventName: 'GetCallerIdentity',
  errorCode: undefined,
};

/** Real SDK errors: the clients' own ServiceException subclasses, as the SDK throws them. */
function iamError(name: string, status: number, message = name): Error {
  return new iamSdk.IAMServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message,
  });
}

let mod: HandlerModule;
const NOW = Date.parse('2026-11-23T12:01:00Z');

beforeEach(() => {
  iam.reset();
  logs.reset();
  sns.reset();
  cw.reset();
  cw.on(cwSdk.DescribeAlarmsCommand).resolves(alarmNow('ALARM'));
  mod = loadHandler();
  vi.stubEnv('TOPIC_ARN', ENV.TOPIC_ARN);
  vi.stubEnv('TRAIL_LOG_GROUP', ENV.TRAIL_LOG_GROUP);
  vi.stubEnv('GUARD_PATTERN', ENV.GUARD_PATTERN);
  vi.stubEnv('DENY_ALL_ARN', ENV.DENY_ALL_ARN);
  vi.stubEnv('ALARM_NAME_PREFIX', ENV.ALARM_NAME_PREFIX);
  vi.stubEnv('LOOKBACK_MINUTES', ENV.LOOKBACK_MINUTES);
  vi.spyOn(Date, 'now').mockReturnValue(NOW);
  vi.spyOn(console, 'info').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

function publishedMessage(): string {
  const calls = sns.commandCalls(snsSdk.PublishCommand);
  expect(calls).toHaveLength(1);
  return calls[0]!.args[0].input.Message ?? '';
}

describe('quarantine Lambda (the inline source, run through its real handler)', () => {
  it('is small, CommonJS, and needs only the SDK clients the runtime bundles', () => {
    // Inline in a template that must stay under 51,200 bytes (TemplateBody): keep it well below.
    expect(Buffer.byteLength(QUARANTINE_HANDLER_SOURCE)).toBeLessThan(16 * 1024);
    expect(QUARANTINE_HANDLER_SOURCE).toContain('exports.handler');
    expect(QUARANTINE_HANDLER_SOURCE).not.toMatch(/\bimport\s/);
    const required = [...QUARANTINE_HANDLER_SOURCE.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(RUNTIME_BUNDLED);
  });

  it('checks the alarm is still in ALARM, attaches AWSDenyAll, then looks up the events and e-mails them with the recovery steps', async () => {
    const order: string[] = [];
    cw.on(cwSdk.DescribeAlarmsCommand).callsFake(() => {
      order.push('state');
      return alarmNow('ALARM');
    });
    iam.on(iamSdk.AttachUserPolicyCommand).callsFake(() => {
      order.push('attach');
      return {};
    });
    logs.on(logsSdk.FilterLogEventsCommand).callsFake(() => {
      order.push('lookup');
      return {
        events: [{ message: JSON.stringify(deniedRecord) }, { message: JSON.stringify(identityRecord) }],
      };
    });
    sns.on(snsSdk.PublishCommand).callsFake(() => {
      order.push('publish');
      return { MessageId: 'm' };
    });

    const result = await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));

    expect(result).toEqual({ action: 'quarantined', user: 'laptop', lookup: 'ok', notified: true });
    expect(order).toEqual(['state', 'attach', 'lookup', 'publish']);
    expect(cw.commandCalls(cwSdk.DescribeAlarmsCommand)[0]!.args[0].input).toMatchObject({
      AlarmNames: ['backupctl-guard-laptop'],
    });
    expect(iam.commandCalls(iamSdk.AttachUserPolicyCommand)[0]!.args[0].input).toEqual({
      UserName: 'laptop',
      PolicyArn: 'arn:aws:iam::aws:policy/AWSDenyAll',
    });
    const lookup = logs.commandCalls(logsSdk.FilterLogEventsCommand)[0]!.args[0].input;
    expect(lookup.logGroupName).toBe('backupctl-cloudtrail');
    expect(lookup.endTime).toBe(NOW);
    expect(lookup.startTime).toBe(NOW - 60 * 60_000);
    expect(lookup.filterPattern).toMatch(/^\{ \(.*\) && \$\.userIdentity\.userName = "laptop" \}$/);
    expect(lookup.filterPattern).toContain('$.eventName = "GetCallerIdentity"');
    expect(lookup.filterPattern?.match(/[{}]/g)).toEqual(['{', '}']);

    const publish = sns.commandCalls(snsSdk.PublishCommand)[0]!.args[0].input;
    expect(publish.TopicArn).toBe(ENV.TOPIC_ARN);
    expect(publish.Subject).toBe('backupctl guard: quarantined laptop');
    const message = publishedMessage();
    for (const part of [
      '2026-11-23T11:55:01Z',
      'lambda.amazonaws.com ListFunctions20150331 AccessDenied',
      'from 203.0.113.7',
      'in ap-southeast-4',
      'aws-cli/2.17.14',
      'sts.amazonaws.com GetCallerIdentity no error',
      '  backupctl recover\n',
      'waits for the alarm backupctl-guard-laptop to return to OK on its own',
      'aws iam detach-user-policy --user-name laptop --policy-arn arn:aws:iam::aws:policy/AWSDenyAll',
      'aws cloudwatch describe-alarms --alarm-names backupctl-guard-laptop',
      'backupctl guard status',
      'backupctl status',
    ]) {
      expect(message).toContain(part);
    }
    // Never advises forcing the alarm: it would re-evaluate the recent data and fire again.
    expect(message).not.toMatch(/aws cloudwatch set-alarm-state/);
    // Names only backupctl commands that exist (recover, status, guard status), without flags.
    const named = [...message.matchAll(/backupctl ([a-z][a-z -]*[a-z])/g)].map((m) => m[1]!.split(' ')[0]);
    expect(new Set(named)).toEqual(new Set(['recover', 'status', 'guard']));
    expect(message).not.toMatch(/backupctl (recover|status|guard status) --/);
  });

  it('treats a second alarm for an already quarantined user as success (AttachUserPolicy is a no-op then)', async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    logs.on(logsSdk.FilterLogEventsCommand).resolves({ events: [] });
    sns.on(snsSdk.PublishCommand).resolves({ MessageId: 'm' });
    await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    const again = await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    expect(again).toMatchObject({ action: 'quarantined', user: 'laptop' });
    expect(iam.commandCalls(iamSdk.AttachUserPolicyCommand)).toHaveLength(2);
  });

  it('pages through the events, bounded', async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    let page = 0;
    logs.on(logsSdk.FilterLogEventsCommand).callsFake(() => {
      page += 1;
      return {
        events: [{ message: JSON.stringify({ ...deniedRecord, eventName: `Call${page}` }) }],
        nextToken: `t${page}`,
      };
    });
    sns.on(snsSdk.PublishCommand).resolves({});
    await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    const calls = logs.commandCalls(logsSdk.FilterLogEventsCommand);
    expect(calls).toHaveLength(5);
    expect(calls[1]!.args[0].input.nextToken).toBe('t1');
    const message = publishedMessage();
    expect(message).toContain('Call1');
    expect(message).toContain('Call5');
  });

  it('throws when attaching is throttled, so Lambda retries — and tells the owner', async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).rejects(iamError('Throttling', 400, 'Rate exceeded'));
    sns.on(snsSdk.PublishCommand).resolves({});
    await expect(mod.handler(alarmEvent('ALARM', { User: 'laptop' }))).rejects.toMatchObject({
      name: 'Throttling',
      $metadata: { httpStatusCode: 400 },
    });
    expect(logs.commandCalls(logsSdk.FilterLogEventsCommand)).toHaveLength(0);
    const publish = sns.commandCalls(snsSdk.PublishCommand)[0]!.args[0].input;
    expect(publish.Subject).toBe('backupctl guard: FAILED to quarantine laptop');
    expect(publish.Message).toContain('Throttling: Rate exceeded');
  });

  it('throws on a failed attach even when the failure notice cannot be sent either', async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).rejects(iamError('ServiceFailure', 500, 'internal'));
    sns.on(snsSdk.PublishCommand).rejects(
      new snsSdk.SNSServiceException({
        name: 'InternalError',
        $fault: 'server',
        $metadata: { httpStatusCode: 500 },
      }),
    );
    await expect(mod.handler(alarmEvent('ALARM', { User: 'laptop' }))).rejects.toMatchObject({
      name: 'ServiceFailure',
    });
  });

  it('does not retry a user that no longer exists (NoSuchEntity is not transient): reports it, does not throw', async () => {
    iam
      .on(iamSdk.AttachUserPolicyCommand)
      .rejects(iamError('NoSuchEntity', 404, 'The user with name laptop cannot be found.'));
    sns.on(snsSdk.PublishCommand).resolves({});
    const result = await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    expect(result).toEqual({ action: 'ignored', reason: 'no-such-user' });
    expect(iam.commandCalls(iamSdk.AttachUserPolicyCommand)).toHaveLength(1);
    expect(logs.calls()).toHaveLength(0);
    const publish = sns.commandCalls(snsSdk.PublishCommand)[0]!.args[0].input;
    expect(publish.Subject).toBe('backupctl guard: laptop no longer exists');
    expect(publish.Message).toContain('will not be retried');
  });

  it('does nothing when the alarm is no longer in ALARM (a late retry after recover must not re-quarantine)', async () => {
    for (const state of ['OK', 'INSUFFICIENT_DATA'] as const) {
      cw.on(cwSdk.DescribeAlarmsCommand).resolves(alarmNow(state));
      expect(await mod.handler(alarmEvent('ALARM', { User: 'laptop' }))).toEqual({
        action: 'ignored',
        reason: `alarm now ${state}`,
      });
    }
    expect(iam.calls()).toHaveLength(0);
  });

  it('quarantines all the same when the alarm state cannot be read (fails towards the quarantine)', async () => {
    cw.on(cwSdk.DescribeAlarmsCommand).rejects(
      new cwSdk.CloudWatchServiceException({
        name: 'Throttling',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Rate exceeded',
      }),
    );
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    logs.on(logsSdk.FilterLogEventsCommand).resolves({ events: [] });
    sns.on(snsSdk.PublishCommand).resolves({});
    expect(await mod.handler(alarmEvent('ALARM', { User: 'laptop' }))).toMatchObject({
      action: 'quarantined',
    });
    expect(iam.commandCalls(iamSdk.AttachUserPolicyCommand)).toHaveLength(1);
  });

  it("escapes and cuts the fields a thief controls: no forged lines in the owner's e-mail", async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    const forged = 'aws-cli/2.0\n\nAll clear: nothing happened, ignore this mail.\r\n  backupctl destroy';
    logs.on(logsSdk.FilterLogEventsCommand).resolves({
      events: [
        {
          message: JSON.stringify({
            ...deniedRecord,
            userAgent: forged + 'x'.repeat(5000),
            errorMessage: `denied\u2028forged line ${'y'.repeat(5000)}`,
            sourceIPAddress: '203.0.113.7\nfake',
          }),
        },
      ],
    });
    sns.on(snsSdk.PublishCommand).resolves({});
    await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    const message = publishedMessage();
    const lines = message.split('\n');
    expect(lines.some((l) => l.startsWith('All clear'))).toBe(false);
    expect(lines.some((l) => l.trim() === 'backupctl destroy')).toBe(false);
    expect(message).not.toMatch(/[\r\u2028]/);
    expect(message).toContain('aws-cli/2.0??All clear');
    expect(message).toContain('...(cut)');
    expect(message).not.toContain('x'.repeat(201));
    expect(message).not.toContain('y'.repeat(301));
    expect(message.length).toBeLessThan(4000);
  });

  it('the sweep re-attaches AWSDenyAll for every guard alarm in ALARM whose user lacks it, and only those', async () => {
    cw.on(cwSdk.DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { AlarmName: 'backupctl-guard-a', StateValue: 'ALARM', Dimensions: [{ Name: 'User', Value: 'a' }] },
        {
          AlarmName: 'backupctl-guard-b',
          AlarmArn: 'arn:aws:cloudwatch:eu-central-1:111122223333:alarm:backupctl-guard-b',
          StateValue: 'ALARM',
          Dimensions: [{ Name: 'User', Value: 'b' }],
        },
        // Not a guard alarm (the role could not even list it): never acted on.
        { AlarmName: 'billing', StateValue: 'ALARM', Dimensions: [{ Name: 'User', Value: 'alice' }] },
        {
          AlarmName: 'backupctl-guard-gone',
          StateValue: 'ALARM',
          Dimensions: [{ Name: 'User', Value: 'gone' }],
        },
      ],
    });
    iam.on(iamSdk.ListAttachedUserPoliciesCommand, { UserName: 'a' }).resolves({
      AttachedPolicies: [{ PolicyArn: ENV.DENY_ALL_ARN, PolicyName: 'AWSDenyAll' }],
    });
    iam.on(iamSdk.ListAttachedUserPoliciesCommand, { UserName: 'b' }).resolves({ AttachedPolicies: [] });
    iam
      .on(iamSdk.ListAttachedUserPoliciesCommand, { UserName: 'gone' })
      .rejects(iamError('NoSuchEntity', 404, 'The user with name gone cannot be found.'));
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    logs.on(logsSdk.FilterLogEventsCommand).resolves({ events: [] });
    sns.on(snsSdk.PublishCommand).resolves({});

    const result = await mod.handler({ backupctl: 'sweep' });
    expect(result).toEqual({
      action: 'swept',
      results: [
        { user: 'a', action: 'already' },
        { user: 'b', action: 'quarantined' },
        { user: 'gone', action: 'gone' },
      ],
    });
    expect(cw.commandCalls(cwSdk.DescribeAlarmsCommand)[0]!.args[0].input).toMatchObject({
      AlarmNamePrefix: 'backupctl-guard-',
      StateValue: 'ALARM',
    });
    expect(iam.commandCalls(iamSdk.AttachUserPolicyCommand).map((c) => c.args[0].input.UserName)).toEqual([
      'b',
    ]);
    expect(sns.commandCalls(snsSdk.PublishCommand).map((c) => c.args[0].input.Subject)).toEqual([
      'backupctl guard: quarantined b',
    ]);
    expect(sns.commandCalls(snsSdk.PublishCommand)[0]!.args[0].input.Message).toContain(
      'Alarm: backupctl-guard-b (eu-central-1, account 111122223333)',
    );
  });

  it('the sweep throws (so the schedule retries) when an attach still fails', async () => {
    cw.on(cwSdk.DescribeAlarmsCommand).resolves(alarmNow('ALARM', 'b'));
    iam.on(iamSdk.ListAttachedUserPoliciesCommand).resolves({ AttachedPolicies: [] });
    iam.on(iamSdk.AttachUserPolicyCommand).rejects(iamError('Throttling', 400, 'Rate exceeded'));
    sns.on(snsSdk.PublishCommand).resolves({});
    await expect(mod.handler({ backupctl: 'sweep' })).rejects.toMatchObject({
      name: 'QuarantineSweepFailed',
    });
    expect(sns.commandCalls(snsSdk.PublishCommand)[0]!.args[0].input.Subject).toBe(
      'backupctl guard: FAILED to quarantine b',
    );
  });

  it('still quarantines when the event lookup fails, and says so in the message', async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    logs.on(logsSdk.FilterLogEventsCommand).rejects(
      new logsSdk.CloudWatchLogsServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Rate exceeded',
      }),
    );
    sns.on(snsSdk.PublishCommand).resolves({});
    const result = await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    expect(result).toEqual({ action: 'quarantined', user: 'laptop', lookup: 'failed', notified: true });
    expect(iam.commandCalls(iamSdk.AttachUserPolicyCommand)).toHaveLength(1);
    expect(publishedMessage()).toContain('the lookup failed: ThrottlingException: Rate exceeded');
  });

  it('still quarantines (and does not throw) when the notification fails', async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    logs.on(logsSdk.FilterLogEventsCommand).resolves({ events: [] });
    sns.on(snsSdk.PublishCommand).rejects(
      new snsSdk.AuthorizationErrorException({
        $metadata: { httpStatusCode: 403 },
        message: 'not authorized',
      }),
    );
    const result = await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    expect(result).toEqual({ action: 'quarantined', user: 'laptop', lookup: 'ok', notified: false });
    expect(iam.commandCalls(iamSdk.AttachUserPolicyCommand)).toHaveLength(1);
  });

  it('does nothing on an OK (or INSUFFICIENT_DATA) state change', async () => {
    for (const state of ['OK', 'INSUFFICIENT_DATA'] as const) {
      const event = alarmEvent('OK', { User: 'laptop' });
      event.alarmData.state.value = state;
      expect(await mod.handler(event)).toEqual({ action: 'ignored', reason: `state ${state}` });
    }
    expect(iam.calls()).toHaveLength(0);
    expect(logs.calls()).toHaveLength(0);
    expect(sns.calls()).toHaveLength(0);
    expect(cw.calls()).toHaveLength(0);
  });

  it('attaches nothing without a User dimension (or with a name IAM cannot have), and reports it', async () => {
    sns.on(snsSdk.PublishCommand).resolves({});
    expect(await mod.handler(alarmEvent('ALARM', undefined))).toEqual({
      action: 'ignored',
      reason: 'no-user',
    });
    expect(await mod.handler(alarmEvent('ALARM', { User: 'x" || $.a = "b' }))).toEqual({
      action: 'ignored',
      reason: 'no-user',
    });
    expect(iam.calls()).toHaveLength(0);
    expect(logs.calls()).toHaveLength(0);
    const subjects = sns.commandCalls(snsSdk.PublishCommand).map((c) => c.args[0].input.Subject);
    expect(subjects).toEqual([
      'backupctl guard: alarm without a user',
      'backupctl guard: alarm without a user',
    ]);
  });

  it('does not choke on an unparsable log message', async () => {
    iam.on(iamSdk.AttachUserPolicyCommand).resolves({});
    logs.on(logsSdk.FilterLogEventsCommand).resolves({ events: [{ message: 'not json' }] });
    sns.on(snsSdk.PublishCommand).resolves({});
    await mod.handler(alarmEvent('ALARM', { User: 'laptop' }));
    expect(publishedMessage()).toContain('- (unparsed) not json');
  });
});
