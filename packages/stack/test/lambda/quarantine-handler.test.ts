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

const RUNTIME_BUNDLED = new Set([
  '@aws-sdk/client-iam',
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

const ENV = {
  TOPIC_ARN: 'arn:aws:sns:eu-central-1:111122223333:backupctl-guard-GuardTopic-X',
  TRAIL_LOG_GROUP: 'backupctl-cloudtrail',
  GUARD_PATTERN: guardFilterPattern(),
  DENY_ALL_ARN: 'arn:aws:iam::aws:policy/AWSDenyAll',
  LOOKBACK_MINUTES: '60',
};

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
  mod = loadHandler();
  vi.stubEnv('TOPIC_ARN', ENV.TOPIC_ARN);
  vi.stubEnv('TRAIL_LOG_GROUP', ENV.TRAIL_LOG_GROUP);
  vi.stubEnv('GUARD_PATTERN', ENV.GUARD_PATTERN);
  vi.stubEnv('DENY_ALL_ARN', ENV.DENY_ALL_ARN);
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
    expect(Buffer.byteLength(QUARANTINE_HANDLER_SOURCE)).toBeLessThan(8 * 1024);
    expect(QUARANTINE_HANDLER_SOURCE).toContain('exports.handler');
    expect(QUARANTINE_HANDLER_SOURCE).not.toMatch(/\bimport\s/);
    const required = [...QUARANTINE_HANDLER_SOURCE.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(RUNTIME_BUNDLED);
  });

  it('attaches AWSDenyAll first, then looks up the events and e-mails them with the recovery steps', async () => {
    const order: string[] = [];
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
    expect(order).toEqual(['attach', 'lookup', 'publish']);
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
      'backupctl recover --user laptop --profile <admin>',
      'aws iam detach-user-policy --user-name laptop --policy-arn arn:aws:iam::aws:policy/AWSDenyAll',
      'set-alarm-state --alarm-name backupctl-guard-laptop --state-value OK',
    ]) {
      expect(message).toContain(part);
    }
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
    iam
      .on(iamSdk.AttachUserPolicyCommand)
      .rejects(iamError('NoSuchEntity', 404, 'The user with name laptop cannot be found.'));
    sns.on(snsSdk.PublishCommand).rejects(
      new snsSdk.SNSServiceException({
        name: 'InternalError',
        $fault: 'server',
        $metadata: { httpStatusCode: 500 },
      }),
    );
    await expect(mod.handler(alarmEvent('ALARM', { User: 'laptop' }))).rejects.toMatchObject({
      name: 'NoSuchEntity',
    });
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
