import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import {
  assertValidKey,
  type ByteRange,
  type DeletableBackend,
  type ObjectInfo,
  type PutResult,
} from './backend.js';
import type { S3Location } from './s3-location.js';

export { parseS3Url, type S3Location } from './s3-location.js';

/**
 * A repository under a prefix of an S3 bucket (AWS or any S3-compatible store).
 *
 * It makes exactly three kinds of request — PutObject with `If-None-Match: *`, GetObject
 * (optionally ranged) of objects it knows exist, ListObjectsV2 under the prefix — the ones
 * the device's access manifest grants. Objects are bounded by the pack size (MiBs), so a single PUT
 * carries each: no multipart upload, hence no multipart permissions and fewer requests.
 */
export class S3Backend implements DeletableBackend {
  readonly location: string;
  readonly writeConcurrency = 4;

  constructor(
    readonly client: S3Client,
    readonly where: S3Location,
  ) {
    this.location = `s3://${where.bucket}/${where.prefix}`;
  }

  private keyOf(key: string): string {
    assertValidKey(key);
    return this.where.prefix ? `${this.where.prefix}/${key}` : key;
  }

  /**
   * Creates the object, never replaces one (`If-None-Match: *`). Every PUT carries a SHA-256
   * of its body (`x-amz-checksum-sha256`, computed here with the platform's native hash, and
   * `x-amz-sdk-checksum-algorithm: SHA256`): S3 verifies it on arrival, and a bucket with
   * Object Lock refuses a PUT that carries neither Content-MD5 nor such a checksum. Both
   * headers are input fields the access manifest allows; they need no IAM action.
   */
  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.where.bucket,
          Key: this.keyOf(key),
          Body: body,
          ContentLength: body.byteLength,
          IfNoneMatch: '*',
          ChecksumAlgorithm: 'SHA256',
          ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
        }),
      );
      return 'created';
    } catch (error) {
      // 412: an object exists under the key. 409: a concurrent conditional write won.
      const status = httpStatus(error);
      if (status === 412 || status === 409) return 'exists';
      throw error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.where.bucket,
          Key: this.keyOf(key),
          Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
        }),
      );
      if (!response.Body) return Buffer.alloc(0);
      const bytes = await response.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      if (isNotFound(error)) {
        throw new BackupctlError(ErrorCodes.objectNotFound, `object not found: ${key}`, {
          source: 'toolkit',
          cause: error,
        });
      }
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const base = this.where.prefix ? `${this.where.prefix}/` : '';
    const pages = paginateListObjectsV2(
      { client: this.client, pageSize: 1000 },
      { Bucket: this.where.bucket, Prefix: base + prefix },
    );
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        yield { key: object.Key.slice(base.length), size: object.Size ?? 0 };
      }
    }
  }

  /**
   * Deletes an object. Only an owner-side client (admin credentials, `openAdminBackend` in
   * @backupctl/stack) can: a device client's access guard refuses DeleteObject before any
   * network I/O, because the device policy denies it (a denial would quarantine).
   * On a versioned bucket this writes a delete marker; the lifecycle rule for noncurrent
   * versions removes the bytes later.
   */
  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.keyOf(key) }));
  }

  /**
   * Whether an object exists, asked with a LIST (`s3:prefix` = the key), never a HEAD or
   * GET: a GET of a missing key answers 403 unless S3 finds `s3:ListBucket` allowed, and
   * whether a prefix-conditioned grant counts is not something to bet the guard on. A LIST
   * under the device prefix is always allowed, so asking never risks a denial.
   */
  async stat(key: string): Promise<ObjectInfo | undefined> {
    const fullKey = this.keyOf(key);
    const response = await this.client.send(
      new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: fullKey, MaxKeys: 1 }),
    );
    const first = response.Contents?.[0];
    return first?.Key === fullKey ? { key, size: first.Size ?? 0 } : undefined;
  }
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return (
    name === 'NoSuchKey' || name === 'NotFound' || (httpStatus(error) === 404 && name !== 'NoSuchBucket')
  );
}

/** Parses `s3://bucket/some/prefix` into bucket and prefix. */
