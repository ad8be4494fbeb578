/**
 * The access manifest: every AWS request a backupctl device makes, and on which resources.
 *
 * This is the ONE list. The device's IAM policy is generated from it (`policy.ts`), and the
 * S3 client's access guard (`guard-middleware.ts`) refuses, before any network I/O, every
 * command that it does not describe. A device that made a request its own policy denies
 * would quarantine itself, so anything added here must be added to both at once — which
 * is why both read this file and nothing else.
 *
 * Deliberately absent: any delete, any overwrite (PutObject is allowed only with
 * `If-None-Match: *`), multipart uploads (CreateMultipartUpload/UploadPart carry no
 * conditional header, so they could not be held to `If-None-Match`), HeadBucket (it needs
 * `s3:ListBucket` with no `s3:prefix`, which the policy does not grant), anything outside
 * the backup bucket, and STS: `sts:GetCallerIdentity` cannot be denied, which makes it a
 * thief's first call and the guard's tripwire.
 */

/**
 * Calls a device never makes and that no IAM policy can deny: a thief's first calls with a
 * stolen key, so the guard counts every one (`GetCallerIdentity`: "whose key is this";
 * `GetSessionToken`: trade the key for temporary credentials — it needs no permission
 * either, so a deny policy cannot stop the call itself). The guard's filter pattern is built
 * from this list, and the invariant test checks that a device session contains none of them.
 */
export const TRIPWIRE_CALLS = [
  { action: 'sts:GetCallerIdentity', eventSource: 'sts.amazonaws.com', eventName: 'GetCallerIdentity' },
  { action: 'sts:GetSessionToken', eventSource: 'sts.amazonaws.com', eventName: 'GetSessionToken' },
] as const;

/** IAM actions the device uses. */
export type ManifestAction = 's3:PutObject' | 's3:GetObject' | 's3:ListBucket';

/** Which ARN an action applies to: the bucket itself, or the objects under the device prefix. */
export type ManifestResourceKind = 'bucket' | 'device-objects';

/** An IAM condition block, as it appears in a policy statement. */
export type ConditionBlock = Record<string, Record<string, string | string[]>>;

export interface ManifestEntry {
  /** Statement id in the generated policy. */
  readonly sid: string;
  readonly action: ManifestAction;
  readonly resource: ManifestResourceKind;
  /**
   * Conditions of the statement. `{devicePrefix}` is replaced by `devices/<device>/`.
   * Every condition key named here must also be reported by the request mapping below
   * (`contextKeys`), or the device could never satisfy it.
   */
  readonly condition?: ConditionBlock;
  /** SDK commands that need this action. */
  readonly commands: readonly ManifestCommandName[];
  /** Why the device needs it (printed by `docs/access-manifest.md` and `guard policy`). */
  readonly why: string;
}

/** The SDK commands the device may send: the only ones the access guard lets through. */
export type ManifestCommandName =
  | 'PutObjectCommand'
  | 'GetObjectCommand'
  | 'HeadObjectCommand'
  | 'ListObjectsV2Command';

export const DEVICE_PREFIX_PLACEHOLDER = '{devicePrefix}';

export const ACCESS_MANIFEST: readonly ManifestEntry[] = [
  {
    sid: 'CreateNewObjectsOnly',
    action: 's3:PutObject',
    resource: 'device-objects',
    // The request must carry If-None-Match (S3 accepts only `*` there): a write can create
    // an object, never replace one. Multipart uploads and CopyObject without the header are
    // left implicitly denied (AWS, "Enforce conditional writes on Amazon S3 buckets").
    condition: { Null: { 's3:if-none-match': 'false' } },
    commands: ['PutObjectCommand'],
    why:
      'Upload new pack, index, snapshot, key and config objects. Only with If-None-Match: * ' +
      '(create, never overwrite), so a stolen key cannot replace existing backups.',
  },
  {
    sid: 'ReadOwnObjects',
    action: 's3:GetObject',
    resource: 'device-objects',
    commands: ['GetObjectCommand', 'HeadObjectCommand'],
    why:
      'Read back the repository config, keys, index and snapshots, and ranges of packs for ' +
      'restore and check. HeadObject (size / existence of an object) is authorised by s3:GetObject too.',
  },
  {
    sid: 'ListOwnPrefix',
    action: 's3:ListBucket',
    resource: 'bucket',
    condition: { StringLike: { 's3:prefix': `${DEVICE_PREFIX_PLACEHOLDER}*` } },
    commands: ['ListObjectsV2Command'],
    why:
      "List the device's own objects (indexes, snapshots, packs) — only under its prefix. It also " +
      'makes GetObject/HeadObject of a missing key under the prefix answer 404 rather than a 403 ' +
      'AccessDenied (S3 checks s3:ListBucket with s3:prefix = the key), which would be a denial. ' +
      'HeadBucket (no prefix) stays denied and is refused locally.',
  },
];

/** Prefix of a device's repository in the bucket: `devices/<device>/`. */
export function devicePrefix(device: string): string {
  assertValidDeviceName(device);
  return `devices/${device}/`;
}

const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * A device name becomes part of an ARN and of a `StringLike` pattern, so IAM wildcards
 * (`*`, `?`), `/` and `..` must never appear in it.
 */
export function assertValidDeviceName(device: string): void {
  if (!DEVICE_NAME.test(device) || device.includes('..')) {
    throw new TypeError(
      `invalid device name ${JSON.stringify(device)}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** General-purpose S3 bucket names (no wildcards, no ARNs, no directory buckets). */
export function assertValidBucketName(bucket: string): void {
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..') || bucket.endsWith('--x-s3')) {
    throw new TypeError(`invalid S3 bucket name ${JSON.stringify(bucket)}`);
  }
}

export function bucketArn(bucket: string, partition = 'aws'): string {
  return `arn:${partition}:s3:::${bucket}`;
}

export function objectArn(bucket: string, key: string, partition = 'aws'): string {
  return `arn:${partition}:s3:::${bucket}/${key}`;
}

/** How one SDK command is authorised by IAM: which action, on which resource, with which keys. */
export interface CommandAccess {
  readonly action: ManifestAction;
  readonly resource: 'bucket' | 'object';
  /** Condition keys whose values the request determines (reported in the AWS trace). */
  readonly contextKeys: readonly string[];
  /**
   * Input fields the command may carry. Anything else is refused locally: several fields
   * change what IAM evaluates (ACL → s3:PutObjectAcl, Tagging → s3:PutObjectTagging,
   * VersionId → s3:GetObjectVersion, SSE-KMS → kms:*, object lock → s3:PutObjectRetention…).
   */
  readonly allowedInput: readonly string[];
}

const CHECKSUM_FIELDS = [
  'ChecksumAlgorithm',
  'ChecksumCRC32',
  'ChecksumCRC32C',
  'ChecksumCRC64NVME',
  'ChecksumSHA1',
  'ChecksumSHA256',
  'ContentMD5',
];
const READ_FIELDS = [
  'Bucket',
  'Key',
  'Range',
  'ChecksumMode',
  'IfMatch',
  'IfNoneMatch',
  'IfModifiedSince',
  'IfUnmodifiedSince',
  'ExpectedBucketOwner',
];

export const COMMAND_ACCESS: Readonly<Record<ManifestCommandName, CommandAccess>> = {
  PutObjectCommand: {
    action: 's3:PutObject',
    resource: 'object',
    contextKeys: ['s3:if-none-match'],
    allowedInput: [
      'Bucket',
      'Key',
      'Body',
      'ContentLength',
      'ContentType',
      'IfNoneMatch',
      'ExpectedBucketOwner',
      ...CHECKSUM_FIELDS,
    ],
  },
  GetObjectCommand: {
    action: 's3:GetObject',
    resource: 'object',
    contextKeys: [],
    allowedInput: READ_FIELDS,
  },
  HeadObjectCommand: {
    action: 's3:GetObject',
    resource: 'object',
    contextKeys: [],
    allowedInput: READ_FIELDS,
  },
  ListObjectsV2Command: {
    action: 's3:ListBucket',
    resource: 'bucket',
    contextKeys: ['s3:prefix'],
    allowedInput: [
      'Bucket',
      'Prefix',
      'MaxKeys',
      'ContinuationToken',
      'StartAfter',
      'Delimiter',
      'EncodingType',
      'ExpectedBucketOwner',
    ],
  },
};

export function isManifestCommand(name: string): name is ManifestCommandName {
  return Object.hasOwn(COMMAND_ACCESS, name);
}

/** One request as IAM sees it: what the trace records and what the e2e test simulates. */
export interface AccessRequest {
  readonly action: ManifestAction;
  readonly resource: string;
  readonly context: Record<string, string>;
}
