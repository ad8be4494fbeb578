import { S3Client } from '@aws-sdk/client-s3';
import { installDeviceGuards } from '../access/device-guards.js';
import { checkAwsSetup } from '../health/aws-setup.js';
import { type BackendTarget, DEFAULT_S3_TIMEOUT_MS, type OpenBackendOptions } from './backend-target.js';
import { S3Backend } from './s3-backend.js';
import { parseS3Url } from './s3-location.js';

const MAX_CONNECT_TIMEOUT_MS = 10_000;

/** The S3 half of openBackend, loaded only for an s3:// repository (it loads the AWS SDK). */
export function openS3Backend(target: BackendTarget, options: OpenBackendOptions = {}): S3Backend {
  const timeoutMs = options.timeoutMs ?? DEFAULT_S3_TIMEOUT_MS;
  const location = parseS3Url(target.repository);
  checkAwsSetup(target, options.awsSetup, { explicitCredentials: options.credentials !== undefined });
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
