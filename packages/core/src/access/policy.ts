/**
 * Generates a device's IAM policy from the access manifest — never written by hand.
 *
 * The policy holds only Allow statements. That matters beyond least privilege: any
 * *explicit* deny a device meets then comes from a policy attached to it afterwards
 * (the guard's `AWSDenyAll`, or AWS's `AWSCompromisedKeyQuarantine*`), which is what lets
 * the client read "explicit deny in an identity-based policy" as "quarantined".
 */
import {
  ACCESS_MANIFEST,
  assertValidBucketName,
  bucketArn,
  type ConditionBlock,
  DEVICE_PREFIX_PLACEHOLDER,
  devicePrefix,
  type ManifestAction,
  objectArn,
} from './manifest.js';

export interface DevicePolicyOptions {
  bucket: string;
  device: string;
  /**
   * The AWS account that owns the bucket. When given, every statement also requires
   * `s3:ResourceAccount` to equal it, so that the key is useless against a bucket of the
   * same name in another account (e.g. after the bucket was deleted and its name taken).
   */
  accountId?: string;
  /** `aws` (default), `aws-cn`, `aws-us-gov`. */
  partition?: string;
}

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: ManifestAction;
  Resource: string;
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

const ACCOUNT_ID = /^\d{12}$/;
const PARTITION = /^aws(-[a-z]+)*$/;

export function generateDevicePolicy(options: DevicePolicyOptions): PolicyDocument {
  const { bucket, device, accountId, partition = 'aws' } = options;
  assertValidBucketName(bucket);
  const prefix = devicePrefix(device);
  if (accountId !== undefined && !ACCOUNT_ID.test(accountId)) {
    throw new TypeError(`invalid AWS account id ${JSON.stringify(accountId)}: 12 digits expected`);
  }
  if (!PARTITION.test(partition)) {
    throw new TypeError(`invalid AWS partition ${JSON.stringify(partition)}`);
  }
  const statements = ACCESS_MANIFEST.map((entry): PolicyStatement => {
    const resource =
      entry.resource === 'bucket' ? bucketArn(bucket, partition) : objectArn(bucket, `${prefix}*`, partition);
    const condition = substitute(entry.condition ?? {}, prefix);
    if (accountId !== undefined) {
      condition.StringEquals = { ...condition.StringEquals, 's3:ResourceAccount': accountId };
    }
    const statement: PolicyStatement = {
      Sid: entry.sid,
      Effect: 'Allow',
      Action: entry.action,
      Resource: resource,
    };
    if (Object.keys(condition).length > 0) statement.Condition = condition;
    return statement;
  });
  return { Version: '2012-10-17', Statement: statements };
}

/** The policy as the JSON text IAM takes (`PolicyDocument` of PutUserPolicy / a template). */
export function renderDevicePolicy(options: DevicePolicyOptions): string {
  return `${JSON.stringify(generateDevicePolicy(options), null, 2)}\n`;
}

function substitute(condition: ConditionBlock, prefix: string): ConditionBlock {
  const replace = (value: string) => value.split(DEVICE_PREFIX_PLACEHOLDER).join(prefix);
  const result: ConditionBlock = {};
  for (const [operator, keys] of Object.entries(condition)) {
    const block: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(keys)) {
      block[key] = Array.isArray(value) ? value.map(replace) : replace(value);
    }
    result[operator] = block;
  }
  return result;
}
