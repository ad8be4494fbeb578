import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import type { Backend } from './backend.js';
import type { BackendTarget, OpenBackendOptions } from './backend-target.js';
import { LocalBackend } from './local-backend.js';
import { isS3Repository } from './s3-location.js';

export { type BackendTarget, DEFAULT_S3_TIMEOUT_MS, type OpenBackendOptions } from './backend-target.js';
export { isS3Repository } from './s3-location.js';

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
export async function openBackend(target: BackendTarget, options: OpenBackendOptions = {}): Promise<Backend> {
  assertRepositoryLocation(target.repository);
  if (!isS3Repository(target.repository)) return new LocalBackend(path.resolve(target.repository));
  // Loaded here, not at start-up: `status`, `snapshots` and local repositories never load the AWS SDK.
  const { openS3Backend } = await import('./s3-backend-factory.js');
  return openS3Backend(target, options);
}
