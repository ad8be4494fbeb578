import type { S3Client } from '@aws-sdk/client-s3';
import { type AccessScope, assertValidScope } from '../access/guard-middleware.js';
import { bucketArn } from '../access/manifest.js';
import { classifyAwsError, type HealthAssessment } from './classify.js';
import type { HealthRequest } from './state-store.js';

export interface ProbeResult {
  assessment: HealthAssessment;
  /** What was asked, for the state store. */
  request: HealthRequest;
}

/** Carries the error of the single attempt past the retry loop (no `cause`: the retry strategy follows it). */
class SingleAttemptError extends Error {
  constructor(readonly original: unknown) {
    super('backupctl health probe: single attempt failed');
    this.name = 'BackupctlProbeAttemptFailed';
  }
}

type AnyHandler = (args: unknown) => Promise<unknown>;

/**
 * Asks AWS once how this device stands: one ListObjectsV2 with MaxKeys 1 under the device
 * prefix — a request the device policy allows, so its answer tells the kind of any deny
 * (unlike a HEAD, whose 403 has no body). Exactly one attempt is sent (the SDK's retry is
 * cut for this command). Never STS: GetCallerIdentity cannot be denied and is the guard's
 * tripwire.
 */
export async function probeHealth(
  client: S3Client,
  scope: AccessScope,
  options: { partition?: string } = {},
): Promise<ProbeResult> {
  const { bucket, prefix } = assertValidScope(scope);
  // The SDK is loaded when a probe is made, not when the module is (cold start).
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const command = new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 });
  (command.middlewareStack as unknown as { addRelativeTo(m: unknown, o: object): void }).addRelativeTo(
    (next: AnyHandler) => async (args: unknown) => {
      try {
        return await next(args);
      } catch (error) {
        throw new SingleAttemptError(error);
      }
    },
    { relation: 'after', toMiddleware: 'retryMiddleware', name: 'backupctlProbeSingleAttempt' },
  );
  const request: HealthRequest = {
    command: 'ListObjectsV2Command',
    action: 's3:ListBucket',
    resource: bucketArn(bucket, options.partition),
  };
  try {
    await client.send(command);
    return { assessment: { status: 'ok', retryable: false }, request };
  } catch (error) {
    const original = error instanceof SingleAttemptError ? error.original : error;
    return { assessment: classifyAwsError(original), request };
  }
}
