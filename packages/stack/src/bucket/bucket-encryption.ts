/**
 * Whether a bucket's default encryption lets a device PUT: the decision `init` takes before it
 * arms a device (its refusal is init's; this is the pure rule and its wording).
 *
 * A bucket whose default encryption is SSE-KMS (or DSSE-KMS) with a CUSTOMER-managed key makes
 * S3 call `kms:GenerateDataKey` as the device on every PUT (and `kms:Decrypt` on every GET).
 * The device policy grants no KMS action, so the first push would be a denied call — and the
 * guard quarantines the device on it. backupctl refuses such a bucket with the fix rather
 * than widening the device policy: the repository is already encrypted end to end by the
 * client, SSE-S3 costs nothing, and every added action is one more thing a stolen key can do.
 * The AWS-managed key `aws/s3` needs no identity permission (its key policy allows every
 * principal of the account through S3), so it is accepted.
 */

/** One rule of `GetBucketEncryption`'s `ServerSideEncryptionConfiguration.Rules`. */
export interface BucketEncryptionRule {
  ApplyServerSideEncryptionByDefault?: { SSEAlgorithm?: string; KMSMasterKeyID?: string };
  BucketKeyEnabled?: boolean;
}

export type BucketEncryptionVerdict =
  | { ok: true; encryption: 'SSE-S3' | 'SSE-KMS with aws/s3' | 'none' }
  /** A KMS key is named by id or ARN: ask KMS DescribeKey for its KeyManager, then decide again. */
  | { ok: 'ask'; kmsKeyId: string }
  | { ok: false; kmsKeyId: string; reason: string; resolution: string };

const AWS_MANAGED_ALIAS = /^(?:arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:)?alias\/aws\/s3$/;

/**
 * Decides on the bucket's default encryption rules. `keyManager` is KMS DescribeKey's
 * `KeyMetadata.KeyManager` of the rule's key, when known.
 */
export function bucketEncryptionVerdict(
  bucket: string,
  rules: readonly BucketEncryptionRule[] | undefined,
  keyManager?: 'AWS' | 'CUSTOMER',
): BucketEncryptionVerdict {
  const rule = rules?.find((r) => r.ApplyServerSideEncryptionByDefault?.SSEAlgorithm !== undefined);
  const algorithm = rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm;
  if (algorithm === undefined) return { ok: true, encryption: 'none' };
  if (algorithm === 'AES256') return { ok: true, encryption: 'SSE-S3' };
  const kmsKeyId = rule?.ApplyServerSideEncryptionByDefault?.KMSMasterKeyID;
  if (kmsKeyId === undefined || AWS_MANAGED_ALIAS.test(kmsKeyId)) {
    return { ok: true, encryption: 'SSE-KMS with aws/s3' };
  }
  if (keyManager === undefined) return { ok: 'ask', kmsKeyId };
  if (keyManager === 'AWS') return { ok: true, encryption: 'SSE-KMS with aws/s3' };
  return {
    ok: false,
    kmsKeyId,
    reason:
      `bucket ${bucket} encrypts new objects with the customer-managed KMS key ${kmsKeyId} (${algorithm}): ` +
      "every device PUT would be a KMS call the device's policy denies, and the guard would quarantine " +
      'the device on its first push',
    resolution:
      `Make SSE-S3 the bucket's default encryption (objects already there keep theirs): aws s3api ` +
      `put-bucket-encryption --bucket ${bucket} --server-side-encryption-configuration ` +
      `'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}' — or use another ` +
      'bucket. backupctl encrypts every object on the device already.',
  };
}
