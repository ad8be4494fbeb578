import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  HeadBucketCommand,
  type LifecycleRule,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
  type ServerSideEncryptionRule,
} from '@aws-sdk/client-s3';
import { BackupctlError, ErrorCodes } from '@backupctl/core';
import { noncurrentExpiryConfiguration } from '../bucket/lifecycle.js';
import { awsErrorName } from '../deploy/stack-error.js';
import { BucketUnsuitableError } from './errors.js';
import type { GuardEventSink } from './events.js';

/** The prefix all devices live under; nothing may expire current versions there. */
export const DEVICES_PREFIX = 'devices/';

const MISSING = new Set(['NotFound', 'NoSuchBucket']);

/** Does the bucket exist (and may the admin see it)? */
export async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (error) {
    if (MISSING.has(awsErrorName(error) ?? '')) return false;
    throw error;
  }
}

/**
 * SSE-KMS with a customer-managed key makes every device PUT a KMS call the device policy
 * does not allow — a denied call, a self-quarantine on the first push. backupctl refuses
 * such a bucket (it does not widen the device policy to KMS). SSE-S3, or SSE-KMS with the
 * AWS-managed key `aws/s3` (no KMS permission needed), are fine.
 */
export function customerManagedKmsKey(rules: ServerSideEncryptionRule[]): string | undefined {
  for (const rule of rules) {
    const d = rule.ApplyServerSideEncryptionByDefault;
    if (d?.SSEAlgorithm === 'aws:kms' || d?.SSEAlgorithm === 'aws:kms:dsse') {
      const key = d.KMSMasterKeyID;
      if (key !== undefined && key !== '' && !/(^|:)alias\/aws\/s3$/.test(key)) return key;
    }
  }
  return undefined;
}

/** Creates the backup bucket as backupctl wants it. Each call tolerates what exists already. */
export async function createBackupBucket(
  s3: S3Client,
  bucket: string,
  region: string,
  options: { noncurrentDays?: number } = {},
): Promise<void> {
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region === 'us-east-1'
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
      }),
    );
  } catch (error) {
    if (awsErrorName(error) !== 'BucketAlreadyOwnedByYou') throw error;
  }
  await s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: true,
        RestrictPublicBuckets: true,
      },
    }),
  );
  await s3.send(
    new PutBucketOwnershipControlsCommand({
      Bucket: bucket,
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    }),
  );
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {
        Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true }],
      },
    }),
  );
  // Incomplete multipart uploads go, and (--noncurrent-days) versions prune or forget made
  // noncurrent; nothing ever expires a current version.
  const abortMultipart: LifecycleRule = {
    ID: 'backupctl-abort-incomplete-multipart-uploads',
    Status: 'Enabled',
    Filter: { Prefix: '' },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
  };
  await s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: bucket,
      LifecycleConfiguration:
        options.noncurrentDays === undefined
          ? { Rules: [abortMultipart] }
          : noncurrentExpiryConfiguration({ noncurrentDays: options.noncurrentDays }, [abortMultipart]),
    }),
  );
}

export interface BucketCheck {
  created: boolean;
  warnings: string[];
  /** The bucket policy (JSON), when it has one. */
  policy?: string;
}

/**
 * The bucket step of init: exists (or is created with `create`), is not encrypted with a
 * customer-managed KMS key, and has no lifecycle rule that expires current versions under
 * `devices/`. A bucket policy with Deny statements is named as a warning (the probe after
 * arming shows whether it bites).
 */
export async function ensureBucket(options: {
  s3: S3Client;
  bucket: string;
  region: string;
  create: boolean;
  /** With create: expire noncurrent versions this many days after prune/forget (lifecycle). */
  noncurrentDays?: number;
  dryRun: boolean;
  onEvent: GuardEventSink;
}): Promise<BucketCheck> {
  const { s3, bucket, onEvent } = options;
  const warnings: string[] = [];
  const warn = (text: string) => {
    warnings.push(text);
    onEvent({ type: 'warn', step: 'bucket', text });
  };
  onEvent({ type: 'start', step: 'bucket', text: `bucket ${bucket}` });
  if (!(await bucketExists(s3, bucket))) {
    if (!options.create) {
      throw new BackupctlError(ErrorCodes.bucketMissing, `the bucket ${bucket} does not exist`, {
        source: 'user',
        resolution: `Create it with \`backupctl init --bucket ${bucket} --create-bucket\` (versioned, private, SSE-S3), or name an existing bucket.`,
        details: { bucket },
      });
    }
    if (options.dryRun) {
      onEvent({
        type: 'plan',
        step: 'bucket',
        text: `would create ${bucket} in ${options.region}: versioning, Block Public Access, BucketOwnerEnforced, SSE-S3, abort incomplete multipart uploads after 7 days${noncurrentText(options.noncurrentDays)}`,
      });
      return { created: false, warnings };
    }
    await createBackupBucket(
      s3,
      bucket,
      options.region,
      options.noncurrentDays === undefined ? {} : { noncurrentDays: options.noncurrentDays },
    );
    onEvent({
      type: 'done',
      step: 'bucket',
      text: `created ${bucket} (versioning, Block Public Access, BucketOwnerEnforced, SSE-S3, multipart-abort lifecycle${noncurrentText(options.noncurrentDays)})`,
    });
    return { created: true, warnings };
  }

  let rules: ServerSideEncryptionRule[] = [];
  try {
    rules =
      (await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }))).ServerSideEncryptionConfiguration
        ?.Rules ?? [];
  } catch (error) {
    if (awsErrorName(error) !== 'ServerSideEncryptionConfigurationNotFoundError') throw error;
  }
  const kmsKey = customerManagedKmsKey(rules);
  if (kmsKey !== undefined) {
    throw new BucketUnsuitableError(
      `the bucket ${bucket} encrypts with the customer-managed KMS key ${kmsKey}: every device PUT would be a denied KMS call, and the guard would quarantine the device on its first push`,
      `Switch the bucket's default encryption to SSE-S3 (aws s3api put-bucket-encryption --bucket ${bucket} --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'), or use another bucket. backupctl encrypts every object itself before upload.`,
      { bucket, kmsKey },
    );
  }

  try {
    const lifecycle = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    for (const rule of lifecycle.Rules ?? []) {
      if (
        rule.Status !== 'Enabled' ||
        (rule.Expiration?.Days === undefined && rule.Expiration?.Date === undefined)
      )
        continue;
      const prefix = rule.Filter?.Prefix ?? rule.Filter?.And?.Prefix ?? rule.Prefix ?? '';
      if (DEVICES_PREFIX.startsWith(prefix) || prefix.startsWith(DEVICES_PREFIX)) {
        warn(
          `lifecycle rule ${rule.ID ?? '(unnamed)'} expires current versions under ${prefix || 'the whole bucket'}: it would delete backups under ${DEVICES_PREFIX}. Limit it to other prefixes or noncurrent versions.`,
        );
      }
    }
  } catch (error) {
    if (awsErrorName(error) !== 'NoSuchLifecycleConfiguration') throw error;
  }

  let policyText: string | undefined;
  try {
    const policy = (await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy;
    policyText = policy;
    const doc = policy
      ? (JSON.parse(policy) as { Statement?: { Effect?: string; Sid?: string }[] | object })
      : {};
    const statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
    const denies = (statements as { Effect?: string; Sid?: string }[]).filter((s) => s.Effect === 'Deny');
    if (denies.length > 0) {
      warn(
        `the bucket policy has ${denies.length} Deny statement(s) (${denies.map((s) => s.Sid ?? 'no Sid').join(', ')}): if one matches the device's calls, its first push is a denied call and the guard quarantines it. The probe after arming tries one allowed call.`,
      );
    }
  } catch (error) {
    if (awsErrorName(error) !== 'NoSuchBucketPolicy') throw error;
  }
  onEvent({
    type: 'ok',
    step: 'bucket',
    text: `${bucket} exists; default encryption ${rules[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm ?? 'SSE-S3 (S3 default)'}`,
  });
  return { created: false, warnings, ...(policyText ? { policy: policyText } : {}) };
}

function noncurrentText(days: number | undefined): string {
  return days === undefined ? '' : `, noncurrent versions expire after ${days} days`;
}
