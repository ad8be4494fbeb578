import { createHash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
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
  type StagedObject,
} from './backend.js';
import type { S3Location } from './s3-location.js';
import { StagedFile } from './staged-file.js';

export { parseS3Url, type S3Location } from './s3-location.js';

/** Read size of a staged file's upload (fewer, larger reads than the stream default). */
const UPLOAD_READ_BYTES = 1024 * 1024;

/** Tries of one GET whose body fails mid-transfer. */
const BODY_ATTEMPTS = 3;

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
  readonly requestsCost = true;

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
    const sha256 = createHash('sha256').update(body).digest('base64');
    return await this.sendConditionalPut(this.conditionalPut(key, body, body.byteLength, sha256));
  }

  /** A PUT that only creates (`If-None-Match: *`), its SHA-256 (base64) checked by S3. */
  private conditionalPut(
    key: string,
    body: Uint8Array,
    size: number,
    sha256Base64: string,
  ): PutObjectCommand {
    return new PutObjectCommand({
      Bucket: this.where.bucket,
      Key: this.keyOf(key),
      Body: body,
      ContentLength: size,
      IfNoneMatch: '*',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: sha256Base64,
    });
  }

  private async sendConditionalPut(command: PutObjectCommand): Promise<PutResult> {
    try {
      await this.client.send(command);
      return 'created';
    } catch (error) {
      // 412: an object exists under the key. 409: a concurrent conditional write won.
      const status = httpStatus(error);
      if (status === 412 || status === 409) return 'exists';
      throw error;
    }
  }

  /**
   * A temporary file in `scratchDir` (the repository's cache folder, on a disk: not /tmp,
   * which is memory on many systems), uploaded with one PUT on publish, as putIfAbsent does.
   */
  stage(scratchDir: string): Promise<StagedObject> {
    return StagedFile.create(scratchDir, async (file, key, size, sha256) => {
      await file.close();
      return this.putFile(key, file.path, size, sha256);
    });
  }

  /**
   * One PUT of a file's `size` bytes, read as they are sent: the body is never in memory.
   * Its SHA-256 is known (`sha256`, hex: the pack's id), so it is both the checksum header
   * and the signed payload hash (`x-amz-content-sha256`): nothing hashes the body again.
   * The SDK does not retry a request whose body is a stream (it cannot rewind one), so the
   * body is a placeholder outside the retry loop and a fresh read of the file inside it,
   * each attempt.
   */
  private async putFile(key: string, file: string, size: number, sha256: string): Promise<PutResult> {
    const streams: ReadStream[] = [];
    const command = this.conditionalPut(
      key,
      PLACEHOLDER_BODY,
      size,
      Buffer.from(sha256, 'hex').toString('base64'),
    );
    type Args = { request: { headers: Record<string, string>; body?: unknown } };
    const bodyFromFile =
      (next: (args: Args) => Promise<unknown>) =>
      async (args: Args): Promise<unknown> => {
        const stream = createReadStream(file, { highWaterMark: UPLOAD_READ_BYTES });
        streams.push(stream);
        const placeholder = args.request.body;
        args.request.body = stream;
        args.request.headers['x-amz-content-sha256'] = sha256;
        try {
          return await next(args);
        } finally {
          args.request.body = placeholder;
          stream.destroy();
        }
      };
    (command.middlewareStack as unknown as LooseStack).addRelativeTo(bodyFromFile, {
      relation: 'before',
      toMiddleware: 'httpSigningMiddleware',
      name: 'backupctlBodyFromFile',
    });
    try {
      return await this.sendConditionalPut(command);
    } finally {
      for (const stream of streams) stream.destroy();
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    // The SDK retries a request that fails before its answer; a body cut off mid-way (a
    // reset, a stall past the idle timeout) fails after it, so it is retried here.
    for (let attempt = 1; ; attempt++) {
      const body = await this.open(key, range);
      try {
        return await body();
      } catch (error) {
        if (attempt >= BODY_ATTEMPTS) {
          throw new BackupctlError(
            ErrorCodes.offline,
            `reading ${key} from ${this.location} failed ${attempt} times mid-transfer: ${(error as Error)?.message ?? error}`,
            {
              source: 'environment',
              cause: error,
              resolution: 'The connection to the storage drops: retry later.',
            },
          );
        }
      }
    }
  }

  /**
   * One GET whose body is read piece by piece as the caller takes them (the socket's flow
   * control holds the rest back). The body is consumed or destroyed whatever the caller
   * does; one cut short ends in an error (the caller decides whether to read again).
   */
  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    const response = await this.send(key, range);
    const expected = Number(response.ContentLength ?? Number.NaN);
    const body = response.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    return (async function* pieces() {
      let got = 0;
      try {
        if (body) {
          for await (const piece of body) {
            got += piece.byteLength;
            yield piece;
          }
        }
      } finally {
        body?.destroy?.();
      }
      if (Number.isFinite(expected) && got !== expected) {
        throw new Error(`body cut off: ${got} of ${expected} bytes`);
      }
    })();
  }

  /** Sends the GET; returns the reader of its body. */
  private async open(key: string, range?: ByteRange): Promise<() => Promise<Buffer>> {
    const response = await this.send(key, range);
    const expected = Number(response.ContentLength ?? Number.NaN);
    return async () => {
      if (!response.Body) return Buffer.alloc(0);
      const bytes = await response.Body.transformToByteArray();
      // A body shorter than announced was cut off (some stacks end it without an error).
      if (Number.isFinite(expected) && bytes.byteLength !== expected) {
        throw new Error(`body cut off: ${bytes.byteLength} of ${expected} bytes`);
      }
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    };
  }

  /** Sends a GET (ranged when asked); a missing object is OBJECT_NOT_FOUND. */
  private async send(key: string, range?: ByteRange): Promise<GetObjectCommandOutput> {
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.where.bucket,
          Key: this.keyOf(key),
          Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
        }),
      );
    } catch (error) {
      if (isNotFound(error)) {
        throw new BackupctlError(ErrorCodes.objectNotFound, `object not found: ${key}`, {
          source: 'toolkit',
          cause: error,
        });
      }
      throw error;
    }
    return response;
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

/** Stands for a staged file's body where the SDK must not see a stream (see putFile). */
const PLACEHOLDER_BODY = new Uint8Array(0);

interface LooseStack {
  addRelativeTo(middleware: unknown, options: Record<string, unknown>): void;
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
