import type { S3Client } from '@aws-sdk/client-s3';
import type { AwsSetupEnvironment } from '../health/aws-setup.js';
import type { HealthAssessment } from '../health/classify.js';
import type { S3Location } from './s3-location.js';

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
  /** S3 idle timeout (connect, send, receive), ms; default 60 s, connect at most 10 s. */
  timeoutMs?: number | undefined;
}

/** A socket silent this long (no byte sent or received) is dropped; the SDK then retries. */
export const DEFAULT_S3_TIMEOUT_MS = 60_000;
