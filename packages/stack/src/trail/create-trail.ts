import { type CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateRoleCommand, type IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  type CreateBucketCommandInput,
  PutBucketPolicyCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { awsErrorMessage, awsErrorName, StackError } from '../deploy/stack-error.js';

export interface CreateTrailOptions {
  cloudTrail: CloudTrailClient;
  s3: S3Client;
  logs: CloudWatchLogsClient;
  iam: IAMClient;
  accountId: string;
  /** The trail's home region, also the region of its log group (and of the guard). */
  region: string;
  partition?: string;
  trailName?: string;
  /** Bucket for the trail's log files (CloudTrail needs one); must be globally unique. */
  bucketName?: string;
  logGroupName?: string;
  logRetentionDays?: number;
  roleName?: string;
  onProgress?: (step: CreateTrailStep) => void;
  /** For tests: the wait between attempts while IAM propagates the new role. */
  sleep?: (ms: number) => Promise<void>;
  retryDelayMs?: number;
}

export type CreateTrailStep =
  | 'bucket'
  | 'bucket-policy'
  | 'log-group'
  | 'delivery-role'
  | 'trail'
  | 'start-logging'
  | 'waiting-for-iam';

export interface CreatedTrail {
  trailName: string;
  trailArn: string;
  bucketName: string;
  logGroupName: string;
  logGroupArn: string;
  roleArn: string;
}

export class TrailCreateError extends StackError {
  constructor(step: CreateTrailStep, cause: unknown) {
    super(
      'TRAIL_CREATE_FAILED',
      `Creating the CloudTrail trail failed at ${step}: ${awsErrorName(cause) ?? 'Error'}: ${awsErrorMessage(cause)}`,
      {
        cause,
        resolution:
          'The admin credentials need s3:CreateBucket/PutBucketPolicy/PutBucketPublicAccessBlock, logs:CreateLogGroup/PutRetentionPolicy, iam:CreateRole/PutRolePolicy/PassRole and cloudtrail:CreateTrail/StartLogging. What was created so far is kept; running again reuses it.',
        details: { step, awsErrorName: awsErrorName(cause) },
      },
    );
  }
}

/** The bucket policy CloudTrail's documentation prescribes, pinned to this trail by aws:SourceArn. */
export function cloudTrailBucketPolicy(options: {
  bucketName: string;
  accountId: string;
  trailArn: string;
  partition?: string;
}): Record<string, unknown> {
  const p = options.partition ?? 'aws';
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AWSCloudTrailAclCheck',
        Effect: 'Allow',
        Principal: { Service: 'cloudtrail.amazonaws.com' },
        Action: 's3:GetBucketAcl',
        Resource: `arn:${p}:s3:::${options.bucketName}`,
        Condition: { StringEquals: { 'aws:SourceArn': options.trailArn } },
      },
      {
        Sid: 'AWSCloudTrailWrite',
        Effect: 'Allow',
        Principal: { Service: 'cloudtrail.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: `arn:${p}:s3:::${options.bucketName}/AWSLogs/${options.accountId}/*`,
        Condition: {
          StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control', 'aws:SourceArn': options.trailArn },
        },
      },
    ],
  };
}

/** Trust and permissions of the role CloudTrail uses to write to the log group. */
export function cloudTrailDeliveryRolePolicies(options: { logGroupArn: string }) {
  return {
    trust: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'cloudtrail.amazonaws.com' },
          Action: 'sts:AssumeRole',
        },
      ],
    },
    permissions: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: `${options.logGroupArn}:log-stream:*`,
        },
      ],
    },
  };
}

/** "It exists already" as the SDK names it (IAM's wire code EntityAlreadyExists is named …Exception). */
const ALREADY = new Set([
  'BucketAlreadyOwnedByYou',
  'ResourceAlreadyExistsException',
  'EntityAlreadyExistsException',
  'EntityAlreadyExists',
]);
const exists = (error: unknown): boolean => ALREADY.has(awsErrorName(error) ?? '');

/**
 * Creates what the guard needs when the account has no usable trail: a private bucket
 * with CloudTrail's bucket policy, a log group with retention, the delivery role, and a
 * multi-region trail delivering to both, then starts it. Each step tolerates its
 * resource already existing, so a failed run can simply be repeated.
 */
export async function createTrail(options: CreateTrailOptions): Promise<CreatedTrail> {
  const p = options.partition ?? 'aws';
  const { accountId, region } = options;
  const trailName = options.trailName ?? 'backupctl-trail';
  const bucketName = options.bucketName ?? `backupctl-cloudtrail-${accountId}-${region}`;
  const logGroupName = options.logGroupName ?? 'backupctl-cloudtrail';
  const roleName = options.roleName ?? 'backupctl-cloudtrail-to-logs';
  const trailArn = `arn:${p}:cloudtrail:${region}:${accountId}:trail/${trailName}`;
  const logGroupArn = `arn:${p}:logs:${region}:${accountId}:log-group:${logGroupName}`;
  const roleArn = `arn:${p}:iam::${accountId}:role/${roleName}`;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  const step = async (name: CreateTrailStep, fn: () => Promise<unknown>): Promise<void> => {
    options.onProgress?.(name);
    try {
      await fn();
    } catch (error) {
      throw new TrailCreateError(name, error);
    }
  };

  await step('bucket', async () => {
    const input: CreateBucketCommandInput = { Bucket: bucketName };
    if (region !== 'us-east-1') {
      input.CreateBucketConfiguration = {
        LocationConstraint: region as NonNullable<
          CreateBucketCommandInput['CreateBucketConfiguration']
        >['LocationConstraint'],
      };
    }
    try {
      await options.s3.send(new CreateBucketCommand(input));
    } catch (error) {
      if (!exists(error)) throw error;
    }
    await options.s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucketName,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          IgnorePublicAcls: true,
          BlockPublicPolicy: true,
          RestrictPublicBuckets: true,
        },
      }),
    );
  });
  await step('bucket-policy', () =>
    options.s3.send(
      new PutBucketPolicyCommand({
        Bucket: bucketName,
        Policy: JSON.stringify(cloudTrailBucketPolicy({ bucketName, accountId, trailArn, partition: p })),
      }),
    ),
  );
  await step('log-group', async () => {
    try {
      await options.logs.send(new CreateLogGroupCommand({ logGroupName }));
    } catch (error) {
      if (!exists(error)) throw error;
    }
    await options.logs.send(
      new PutRetentionPolicyCommand({ logGroupName, retentionInDays: options.logRetentionDays ?? 90 }),
    );
  });
  const policies = cloudTrailDeliveryRolePolicies({ logGroupArn });
  await step('delivery-role', async () => {
    try {
      await options.iam.send(
        new CreateRoleCommand({
          RoleName: roleName,
          Path: '/',
          Description: 'CloudTrail delivers the backupctl trail to CloudWatch Logs',
          AssumeRolePolicyDocument: JSON.stringify(policies.trust),
        }),
      );
    } catch (error) {
      if (!exists(error)) throw error;
    }
    await options.iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: 'deliver-to-log-group',
        PolicyDocument: JSON.stringify(policies.permissions),
      }),
    );
  });

  // A new role takes seconds to propagate; CloudTrail meanwhile rejects it as unusable.
  const input = {
    Name: trailName,
    S3BucketName: bucketName,
    IsMultiRegionTrail: true,
    IncludeGlobalServiceEvents: true,
    EnableLogFileValidation: true,
    CloudWatchLogsLogGroupArn: `${logGroupArn}:*`,
    CloudWatchLogsRoleArn: roleArn,
  };
  options.onProgress?.('trail');
  for (let attempt = 1; ; attempt++) {
    try {
      await options.cloudTrail.send(new CreateTrailCommand(input));
      break;
    } catch (error) {
      const name = awsErrorName(error);
      if (name === 'TrailAlreadyExistsException') break;
      if (name === 'InvalidCloudWatchLogsRoleArnException' && attempt < 10) {
        options.onProgress?.('waiting-for-iam');
        await sleep(options.retryDelayMs ?? 3000);
        continue;
      }
      throw new TrailCreateError('trail', error);
    }
  }
  await step('start-logging', () => options.cloudTrail.send(new StartLoggingCommand({ Name: trailName })));
  return { trailName, trailArn, bucketName, logGroupName, logGroupArn: `${logGroupArn}:*`, roleArn };
}
