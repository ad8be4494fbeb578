import { S3Client } from '@aws-sdk/client-s3';
import type { DeletableBackend } from '@backupctl/core';
import { type BackendTarget, openBackend, parseS3Url } from '@backupctl/core';
import { S3Backend } from '@backupctl/core/s3';
import { type AdminCredentialsOptions, adminCredentials } from '../deploy/admin-clients.js';

/**
 * The repository opened with the owner's admin credentials, for what only the owner may
 * do: forget and prune delete objects. Its S3 client carries no device guard (the device
 * policy and its manifest deliberately lack DeleteObject); a local folder is opened as usual.
 */
export async function openAdminBackend(
  target: BackendTarget,
  options: AdminCredentialsOptions = {},
): Promise<DeletableBackend> {
  if (!target.repository.startsWith('s3://')) return (await openBackend(target)) as DeletableBackend;
  const client = new S3Client({
    credentials: adminCredentials(options),
    region: target.region ?? (target.endpoint ? 'us-east-1' : undefined),
    maxAttempts: 4,
    endpoint: target.endpoint,
    forcePathStyle: Boolean(target.endpoint),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return new S3Backend(client, parseS3Url(target.repository));
}
