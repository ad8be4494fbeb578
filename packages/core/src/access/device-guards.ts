import type { S3Client } from '@aws-sdk/client-s3';
import type { HealthAssessment } from '../health/classify.js';
import {
  installNo403Retry,
  installQuarantineBreaker,
  type QuarantineBreaker,
} from '../health/quarantine-breaker.js';
import { type AccessScope, installAccessGuard, installAwsTrace } from './guard-middleware.js';

export interface DeviceGuardOptions {
  /** `BACKUPCTL_AWS_TRACE` (from config/environment.ts): trace every request sent. */
  traceFile?: string;
  partition?: string;
  /** Called once, at the first explicit deny (record the state, notify the owner). */
  onQuarantine?: (assessment: HealthAssessment, command: string) => void;
}

/**
 * Everything a device's S3 client carries, in one call: the access guard (initialize step:
 * refuse what the manifest does not allow), inside the retry loop the quarantine breaker
 * (stop at the first explicit deny) and the no-403-retry rule, and after signing the trace.
 */
export function installDeviceGuards(
  client: S3Client,
  scope: AccessScope,
  options: DeviceGuardOptions = {},
): QuarantineBreaker {
  const partition = options.partition === undefined ? {} : { partition: options.partition };
  installAccessGuard(client, scope, partition);
  installNo403Retry(client);
  const breaker = installQuarantineBreaker(
    client,
    options.onQuarantine === undefined ? {} : { onQuarantine: options.onQuarantine },
  );
  if (options.traceFile !== undefined) installAwsTrace(client, options.traceFile, partition);
  return breaker;
}
