import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { HealthAssessment } from '../health/classify.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local-backend.js';
import { isS3Repository, type S3Location } from './s3-location.js';

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
}

export { isS3Repository } from './s3-location.js';

/**
 * The backend a repository location names: `s3://bucket/prefix` (AWS, or any S3-compatible
 * store with `endpoint`, addressed path-style) or a local folder.
 */
export async function openBackend(target: BackendTarget, options: OpenBackendOptions = {}): Promise<Backend> {
  if (!isS3Repository(target.repository)) return new LocalBackend(path.resolve(target.repository));
  // Loaded here, not at start-up: `status`, `snapshots` and local repositories never load the AWS SDK.
  const { openS3Backend } = await import('./s3-backend-factory.js');
  return openS3Backend(target, options);
}
