import {
  CloudTrailClient,
  CloudTrailServiceException,
  CreateTrailCommand,
  DescribeTrailsCommand,
  GetEventSelectorsCommand,
  GetTrailStatusCommand,
  InvalidCloudWatchLogsRoleArnException,
  PutEventSelectorsCommand,
  StartLoggingCommand,
} from '@aws-sdk/client-cloudtrail';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  PutRetentionPolicyCommand,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateRoleCommand,
  EntityAlreadyExistsException,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  PutBucketPolicyCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  checkTrail,
  cloudTrailBucketPolicy,
  createTrail,
  enableS3DataEvents,
  S3_DATA_EVENTS_COST_TEXT,
  s3DataEventSelector,
  TrailCheckError,
  TrailCreateError,
} from '../../src/trail/index.js';

const ct = mockClient(CloudTrailClient);
const s3 = mockClient(S3Client);
const logs = mockClient(CloudWatchLogsClient);
const iam = mockClient(IAMClient);
const cloudTrail = new CloudTrailClient({ region: 'eu-central-1' });

const ACCOUNT = '111122223333';
const GOOD = {
  Name: 'main',
  TrailARN: `arn:aws:cloudtrail:eu-central-1:${ACCOUNT}:trail/main`,
  HomeRegion: 'eu-central-1',
  IsMultiRegionTrail: true,
  CloudWatchLogsLogGroupArn: `arn:aws:logs:eu-central-1:${ACCOUNT}:log-group:aws-cloudtrail-logs/main:*`,
};
const ALL_MANAGEMENT = {
  EventSelectors: [{ ReadWriteType: 'All' as const, IncludeManagementEvents: true, DataResources: [] }],
};

beforeEach(() => {
  ct.reset();
  s3.reset();
  logs.reset();
  iam.reset();
});

describe('checkTrail', () => {
  it('accepts a multi-region, logging trail delivering to CloudWatch Logs, and says where the guard must live', async () => {
    ct.on(DescribeTrailsCommand).resolves({ trailList: [GOOD] });
    ct.on(GetTrailStatusCommand).resolves({ IsLogging: true });
    ct.on(GetEventSelectorsCommand).resolves(ALL_MANAGEMENT);
    expect(await checkTrail(cloudTrail)).toEqual({
      ok: true,
      trail: {
        name: 'main',
        arn: GOOD.TrailARN,
        homeRegion: 'eu-central-1',
        logGroupArn: GOOD.CloudWatchLogsLogGroupArn,
        logGroupName: 'aws-cloudtrail-logs/main',
        logGroupRegion: 'eu-central-1',
        deliveryError: undefined,
      },
    });
    expect(ct.commandCalls(DescribeTrailsCommand)[0]!.args[0].input).toEqual({ includeShadowTrails: true });
  });

  it('no trail: says how to create one', async () => {
    ct.on(DescribeTrailsCommand).resolves({ trailList: [] });
    const result = await checkTrail(cloudTrail);
    expect(result).toMatchObject({ ok: false, problem: 'no-trail' });
    expect(!result.ok && result.remedy).toContain('backupctl init --bucket NAME --create-trail');
  });

  it.each([
    [{ ...GOOD, IsMultiRegionTrail: false }, true, 'not-multi-region', '--is-multi-region-trail'],
    [
      { ...GOOD, CloudWatchLogsLogGroupArn: undefined },
      true,
      'no-cloudwatch-logs',
      '--cloud-watch-logs-log-group-arn',
    ],
    [GOOD, false, 'not-logging', 'aws cloudtrail start-logging --name main'],
  ] as const)('a trail that will not do: %#', async (trail, logging, problem, remedy) => {
    ct.on(DescribeTrailsCommand).resolves({ trailList: [trail] });
    ct.on(GetTrailStatusCommand).resolves({ IsLogging: logging });
    ct.on(GetEventSelectorsCommand).resolves(ALL_MANAGEMENT);
    const result = await checkTrail(cloudTrail);
    expect(result).toMatchObject({ ok: false, problem, trail: { name: 'main' } });
    expect(!result.ok && result.remedy).toContain(remedy);
  });

  it('a trail that logs only data events will not do', async () => {
    ct.on(DescribeTrailsCommand).resolves({ trailList: [GOOD] });
    ct.on(GetTrailStatusCommand).resolves({ IsLogging: true });
    ct.on(GetEventSelectorsCommand).resolves({
      AdvancedEventSelectors: [s3DataEventSelector('arn:aws:s3:::my-backups')],
    });
    expect(await checkTrail(cloudTrail)).toMatchObject({ ok: false, problem: 'no-management-events' });
  });

  it('prefers the usable trail among several', async () => {
    ct.on(DescribeTrailsCommand).resolves({
      trailList: [{ ...GOOD, Name: 'regional', IsMultiRegionTrail: false }, GOOD],
    });
    ct.on(GetTrailStatusCommand).resolves({ IsLogging: true });
    ct.on(GetEventSelectorsCommand).resolves(ALL_MANAGEMENT);
    expect(await checkTrail(cloudTrail)).toMatchObject({ ok: true, trail: { name: 'main' } });
  });

  it('an AWS error becomes a typed error', async () => {
    ct.on(DescribeTrailsCommand).rejects(
      new CloudTrailServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'no',
      }),
    );
    await expect(checkTrail(cloudTrail)).rejects.toBeInstanceOf(TrailCheckError);
  });
});

describe('S3 data events', () => {
  it('selects the objects of the backup bucket only', () => {
    expect(s3DataEventSelector('arn:aws:s3:::my-backups')).toEqual({
      Name: expect.any(String),
      FieldSelectors: [
        { Field: 'eventCategory', Equals: ['Data'] },
        { Field: 'resources.type', Equals: ['AWS::S3::Object'] },
        { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::my-backups/'] },
      ],
    });
    expect(() => s3DataEventSelector('my-backups')).toThrow(TypeError);
    expect(S3_DATA_EVENTS_COST_TEXT).toContain('$0.10 per 100,000 data events');
  });

  it('rewrites basic selectors as advanced ones, keeping management events, and adds ours', async () => {
    ct.on(GetEventSelectorsCommand).resolves({
      EventSelectors: [
        {
          ReadWriteType: 'All',
          IncludeManagementEvents: true,
          ExcludeManagementEventSources: ['kms.amazonaws.com'],
          DataResources: [{ Type: 'AWS::Lambda::Function', Values: ['arn:aws:lambda'] }],
        },
      ],
    });
    ct.on(PutEventSelectorsCommand).resolves({});
    const result = await enableS3DataEvents({
      cloudTrail,
      trailName: 'main',
      bucketArn: 'arn:aws:s3:::my-backups',
    });
    expect(result.status).toBe('added');
    const put = ct.commandCalls(PutEventSelectorsCommand)[0]!.args[0].input;
    expect(put.EventSelectors).toBeUndefined();
    expect(put.AdvancedEventSelectors!.map((s) => s.FieldSelectors)).toEqual([
      [
        { Field: 'eventCategory', Equals: ['Management'] },
        { Field: 'eventSource', NotEquals: ['kms.amazonaws.com'] },
      ],
      [
        { Field: 'eventCategory', Equals: ['Data'] },
        { Field: 'resources.type', Equals: ['AWS::Lambda::Function'] },
      ],
      s3DataEventSelector('arn:aws:s3:::my-backups').FieldSelectors,
    ]);
  });

  it('keeps existing advanced selectors and does not add ours twice', async () => {
    const management = { Name: 'm', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] };
    ct.on(GetEventSelectorsCommand).resolves({ AdvancedEventSelectors: [management] });
    ct.on(PutEventSelectorsCommand).resolves({});
    await enableS3DataEvents({ cloudTrail, trailName: 'main', bucketArn: 'arn:aws:s3:::my-backups' });
    expect(ct.commandCalls(PutEventSelectorsCommand)[0]!.args[0].input.AdvancedEventSelectors).toEqual([
      management,
      s3DataEventSelector('arn:aws:s3:::my-backups'),
    ]);
    ct.on(GetEventSelectorsCommand).resolves({
      AdvancedEventSelectors: [
        management,
        { ...s3DataEventSelector('arn:aws:s3:::my-backups'), Name: 'renamed' },
      ],
    });
    expect(
      (await enableS3DataEvents({ cloudTrail, trailName: 'main', bucketArn: 'arn:aws:s3:::my-backups' }))
        .status,
    ).toBe('already');
    expect(ct.commandCalls(PutEventSelectorsCommand)).toHaveLength(1);
  });
});

describe('createTrail', () => {
  const clients = () => ({
    cloudTrail,
    s3: new S3Client({ region: 'eu-central-1' }),
    logs: new CloudWatchLogsClient({ region: 'eu-central-1' }),
    iam: new IAMClient({ region: 'eu-central-1' }),
  });

  function allOk() {
    s3.on(CreateBucketCommand).resolves({});
    s3.on(PutPublicAccessBlockCommand).resolves({});
    s3.on(PutBucketPolicyCommand).resolves({});
    logs.on(CreateLogGroupCommand).resolves({});
    logs.on(PutRetentionPolicyCommand).resolves({});
    iam.on(CreateRoleCommand).resolves({});
    iam.on(PutRolePolicyCommand).resolves({});
    ct.on(CreateTrailCommand).resolves({});
    ct.on(StartLoggingCommand).resolves({});
  }

  it('creates bucket, log group, role and a multi-region trail, then starts it', async () => {
    allOk();
    const steps: string[] = [];
    const created = await createTrail({
      ...clients(),
      accountId: ACCOUNT,
      region: 'eu-central-1',
      onProgress: (s) => steps.push(s),
    });
    expect(created).toEqual({
      trailName: 'backupctl-trail',
      trailArn: `arn:aws:cloudtrail:eu-central-1:${ACCOUNT}:trail/backupctl-trail`,
      bucketName: `backupctl-cloudtrail-${ACCOUNT}-eu-central-1`,
      logGroupName: 'backupctl-cloudtrail',
      logGroupArn: `arn:aws:logs:eu-central-1:${ACCOUNT}:log-group:backupctl-cloudtrail:*`,
      roleArn: `arn:aws:iam::${ACCOUNT}:role/backupctl-cloudtrail-to-logs`,
    });
    expect(steps).toEqual([
      'bucket',
      'bucket-policy',
      'log-group',
      'delivery-role',
      'trail',
      'start-logging',
    ]);
    expect(s3.commandCalls(CreateBucketCommand)[0]!.args[0].input.CreateBucketConfiguration).toEqual({
      LocationConstraint: 'eu-central-1',
    });
    expect(ct.commandCalls(CreateTrailCommand)[0]!.args[0].input).toMatchObject({
      Name: 'backupctl-trail',
      IsMultiRegionTrail: true,
      IncludeGlobalServiceEvents: true,
      CloudWatchLogsLogGroupArn: created.logGroupArn,
      CloudWatchLogsRoleArn: created.roleArn,
    });
    const rolePolicy = JSON.parse(iam.commandCalls(PutRolePolicyCommand)[0]!.args[0].input.PolicyDocument!);
    expect(rolePolicy.Statement[0].Action).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(rolePolicy.Statement[0].Resource).toBe(
      `arn:aws:logs:eu-central-1:${ACCOUNT}:log-group:backupctl-cloudtrail:log-stream:*`,
    );
    const trust = JSON.parse(iam.commandCalls(CreateRoleCommand)[0]!.args[0].input.AssumeRolePolicyDocument!);
    expect(trust.Statement[0].Principal).toEqual({ Service: 'cloudtrail.amazonaws.com' });
    expect(ct.commandCalls(StartLoggingCommand)[0]!.args[0].input).toEqual({ Name: 'backupctl-trail' });
  });

  it('can be re-run: resources that already exist are reused', async () => {
    allOk();
    s3.on(CreateBucketCommand).rejects(
      new BucketAlreadyOwnedByYou({ $metadata: { httpStatusCode: 409 }, message: 'yours' }),
    );
    logs
      .on(CreateLogGroupCommand)
      .rejects(new ResourceAlreadyExistsException({ $metadata: { httpStatusCode: 400 }, message: 'exists' }));
    iam
      .on(CreateRoleCommand)
      .rejects(new EntityAlreadyExistsException({ $metadata: { httpStatusCode: 409 }, message: 'exists' }));
    await createTrail({ ...clients(), accountId: ACCOUNT, region: 'us-east-1' });
    expect(s3.commandCalls(CreateBucketCommand)[0]!.args[0].input.CreateBucketConfiguration).toBeUndefined();
    // The public-access block, retention and role policy are still (re)applied.
    expect(s3.commandCalls(PutPublicAccessBlockCommand)).toHaveLength(1);
    expect(logs.commandCalls(PutRetentionPolicyCommand)).toHaveLength(1);
    expect(iam.commandCalls(PutRolePolicyCommand)).toHaveLength(1);
  });

  it('waits while IAM propagates the new role', async () => {
    allOk();
    ct.on(CreateTrailCommand)
      .rejectsOnce(
        new InvalidCloudWatchLogsRoleArnException({
          $metadata: { httpStatusCode: 400 },
          message: 'Access denied.',
        }),
      )
      .resolves({});
    const steps: string[] = [];
    await createTrail({
      ...clients(),
      accountId: ACCOUNT,
      region: 'eu-central-1',
      sleep: async () => {},
      onProgress: (s) => steps.push(s),
    });
    expect(ct.commandCalls(CreateTrailCommand)).toHaveLength(2);
    expect(steps).toContain('waiting-for-iam');
  });

  it('a failing step is a typed error naming it', async () => {
    allOk();
    s3.on(PutBucketPolicyCommand).rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
    );
    const error = await createTrail({ ...clients(), accountId: ACCOUNT, region: 'eu-central-1' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(TrailCreateError);
    expect(error.code).toBe('TRAIL_CREATE_FAILED');
    expect(error.details.step).toBe('bucket-policy');
    expect(ct.commandCalls(CreateTrailCommand)).toHaveLength(0);
  });
});

describe('cloudTrailBucketPolicy', () => {
  const trailArn = `arn:aws:cloudtrail:eu-central-1:${ACCOUNT}:trail/backupctl-trail`;
  const policy = cloudTrailBucketPolicy({ bucketName: 'b', accountId: ACCOUNT, trailArn });

  async function simulate(action: string, resource: string, context: Record<string, string>) {
    const result = await runSimulation(
      {
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: policy,
        request: {
          action,
          principal: 'cloudtrail.amazonaws.com',
          resource: { resource, accountId: ACCOUNT },
          contextVariables: context,
        },
      },
      {},
    );
    if (result.resultType !== 'single') throw new Error(JSON.stringify(result));
    return result.overallResult;
  }

  it('lets only this trail write, under AWSLogs/<account>/, with bucket-owner-full-control', async () => {
    const ok = { 'aws:SourceArn': trailArn, 's3:x-amz-acl': 'bucket-owner-full-control' };
    expect(await simulate('s3:PutObject', `arn:aws:s3:::b/AWSLogs/${ACCOUNT}/CloudTrail/x.json.gz`, ok)).toBe(
      'Allowed',
    );
    expect(await simulate('s3:GetBucketAcl', 'arn:aws:s3:::b', { 'aws:SourceArn': trailArn })).toBe(
      'Allowed',
    );
    expect(
      await simulate('s3:PutObject', `arn:aws:s3:::b/AWSLogs/${ACCOUNT}/x`, {
        ...ok,
        'aws:SourceArn': `${trailArn}-other`,
      }),
    ).not.toBe('Allowed');
    expect(await simulate('s3:PutObject', 'arn:aws:s3:::b/elsewhere/x', ok)).not.toBe('Allowed');
    expect(await simulate('s3:DeleteObject', `arn:aws:s3:::b/AWSLogs/${ACCOUNT}/x`, ok)).not.toBe('Allowed');
  });
});
