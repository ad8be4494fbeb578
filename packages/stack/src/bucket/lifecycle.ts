import type { BucketLifecycleConfiguration, LifecycleRule } from '@aws-sdk/client-s3';

export const NONCURRENT_EXPIRY_RULE_ID = 'backupctl-expire-noncurrent';

export interface NoncurrentExpiryOptions {
  /** Days a version stays after it became noncurrent (deleted by prune/forget, or replaced). */
  noncurrentDays: number;
  /** Key prefix the rule covers (default: the whole bucket). */
  prefix?: string;
}

/**
 * The lifecycle rule `init --create-bucket` sets on the versioned backup bucket: a version
 * that stopped being current (prune or forget deleted the object, leaving a delete marker)
 * is removed `noncurrentDays` days later, and the delete marker left alone afterwards is
 * cleaned up too. Until then a pruned pack still costs storage — and can still be brought
 * back by the owner (a grace period against a mistaken forget). Current objects are never
 * expired by this rule: only prune and forget decide what goes.
 */
export function noncurrentExpiryRule(options: NoncurrentExpiryOptions): LifecycleRule {
  const days = options.noncurrentDays;
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError(`noncurrent days must be a whole number of at least 1 (got ${days})`);
  }
  return {
    ID: NONCURRENT_EXPIRY_RULE_ID,
    Status: 'Enabled',
    Filter: { Prefix: options.prefix ?? '' },
    NoncurrentVersionExpiration: { NoncurrentDays: days },
    // Once its noncurrent versions are gone, the lone delete marker goes too.
    Expiration: { ExpiredObjectDeleteMarker: true },
  };
}

/**
 * A whole `PutBucketLifecycleConfiguration` body: the bucket's other rules (Put replaces the
 * whole configuration — e.g. init's abort-incomplete-multipart rule) plus this one.
 */
export function noncurrentExpiryConfiguration(
  options: NoncurrentExpiryOptions,
  otherRules: LifecycleRule[] = [],
): BucketLifecycleConfiguration {
  return {
    Rules: [...otherRules.filter((r) => r.ID !== NONCURRENT_EXPIRY_RULE_ID), noncurrentExpiryRule(options)],
  };
}
