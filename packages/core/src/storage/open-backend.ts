import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { installDeviceGuards } from '../access/device-guards.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import type { HealthAssessment } from '../health/classify.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local-backend.js';
import { parseS3Url, S3Backend, type S3Location } from './s3-backend.js';

export interface BackendTarget {
  repository: string;
  endpoint?: string;
  region?: string;
}

export interface OpenBackendOptions {
  /** Called with every S3 client built, before its first request (guard, trace). */
  configureS3Client?: (client: S3Client, location: S3Location) => void;
  /** Credentials override (tests, or the device key from the keychain). */
  credentials?: S3Client['config']['credentials'] | { accessKeyId: string; secretAccessKey: string };
  /** BACKUPCTL_AWS_TRACE: one JSON line per AWS request sent. */
  traceFile?: string;
  /** Called at the first explicit deny (the client then refuses every further request). */
  onQuarantine?: (assessment: HealthAssessment, command: string) => void;
  /** S3 idle timeout (connect, send, receive), ms; default 60 s, connect at most 10 s. */
  timeoutMs?: number | undefined;
}

/** A socket silent this long (no byte sent or received) is dropped; the SDK then retries. */
export const DEFAULT_S3_TIMEOUT_MS = 60_000;
const MAX_CONNECT_TIMEOUT_MS = 10_000;

export function isS3Repository(repository: string): boolean {
  return repository.startsWith('s3://');
}

/**
 * Refuses a location that is not a local folder or `s3://…`: an empty string (which would
 * mean the current folder), another scheme (`ftp://`, `https://`) or another spelling
 * (`S3://`) — none of them may become a local folder named after a URL.
 */
export function assertRepositoryLocation(repository: string): void {
  if (repository.trim() === '') {
    throw new BackupctlError(ErrorCodes.usage, 'the repository location is empty', {
      resolution:
        'Give a folder or s3://BUCKET/PREFIX, e.g. --repo /mnt/backup or --repo s3://my-backups/laptop',
    });
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(repository)?.[1];
  if (scheme !== undefined && scheme !== 's3') {
    throw new BackupctlError(
      ErrorCodes.usage,
      `unsupported repository location ${repository}: backupctl stores to a local folder or to s3://`,
      {
        resolution:
          scheme.toLowerCase() === 's3'
            ? `Write the scheme in lower case: s3://${repository.slice(scheme.length + 3)}`
            : 'Give a folder (mount the remote storage first) or s3://BUCKET/PREFIX.',
      },
    );
  }
  if (repository.includes('\0')) {
    throw new BackupctlError(ErrorCodes.usage, 'the repository location holds a NUL character');
  }
}

/**
 * The backend a repository location names: `s3://bucket/prefix` (AWS, or any S3-compatible
 * store with `endpoint`, addressed path-style) or a local folder.
 */
export function openBackend(target: BackendTarget, options: OpenBackendOptions = {}): Backend {
  assertRepositoryLocation(target.repository);
  if (!isS3Repository(target.repository)) return new LocalBackend(path.resolve(target.repository));
  const timeoutMs = options.timeoutMs ?? DEFAULT_S3_TIMEOUT_MS;
  const location = parseS3Url(target.repository);
  const client = new S3Client({
    region: target.region ?? (target.endpoint ? 'us-east-1' : undefined),
    // 403s are never retried (installNo403Retry); other failures get the SDK's backoff.
    maxAttempts: 4,
    // No request may hang: a connection that cannot be made, or that goes silent (a server
    // that accepts and never answers, a stalled upload or body), fails with a TimeoutError
    // (offline, retried by the SDK, then exit 23).
    requestHandler: {
      connectionTimeout: Math.min(timeoutMs, MAX_CONNECT_TIMEOUT_MS),
      socketTimeout: timeoutMs,
    },
    endpoint: target.endpoint,
    forcePathStyle: Boolean(target.endpoint),
    // Our own hashes and authenticated encryption protect the data end to end; skip the
    // SDK's extra CRC headers, which some S3-compatible stores reject.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.credentials ? { credentials: options.credentials as S3Client['config']['credentials'] } : {}),
  });
  // The invariant: every S3 client the SDK builds refuses, before any network I/O, what the
  // access manifest does not allow, and stops at the first explicit deny.
  installDeviceGuards(client, location, {
    ...(options.traceFile ? { traceFile: options.traceFile } : {}),
    ...(options.onQuarantine ? { onQuarantine: options.onQuarantine } : {}),
  });
  options.configureS3Client?.(client, location);
  return new S3Backend(client, location);
}
