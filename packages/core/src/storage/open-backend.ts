import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { installDeviceGuards } from '../access/device-guards.js';
import { type AwsSetupEnvironment, checkAwsSetup } from '../health/aws-setup.js';
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
  /** The AWS SDK's environment: checked (profile, region, endpoint) before any request. */
  awsSetup?: AwsSetupEnvironment;
  /** Called at the first explicit deny (the client then refuses every further request). */
  onQuarantine?: (assessment: HealthAssessment, command: string) => void;
}

export function isS3Repository(repository: string): boolean {
  return repository.startsWith('s3://');
}

/**
 * The backend a repository location names: `s3://bucket/prefix` (AWS, or any S3-compatible
 * store with `endpoint`, addressed path-style) or a local folder.
 */
export function openBackend(target: BackendTarget, options: OpenBackendOptions = {}): Backend {
  if (!isS3Repository(target.repository)) return new LocalBackend(path.resolve(target.repository));
  const location = parseS3Url(target.repository);
  checkAwsSetup(target, options.awsSetup, { explicitCredentials: options.credentials !== undefined });
  const client = new S3Client({
    region: target.region ?? (target.endpoint ? 'us-east-1' : undefined),
    // 403s are never retried (installNo403Retry); other failures get the SDK's backoff.
    maxAttempts: 4,
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
