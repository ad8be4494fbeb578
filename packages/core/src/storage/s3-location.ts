import { BackupctlError, ErrorCodes } from '../errors/index.js';

/** Where an S3 repository lives. No AWS SDK here: local commands must not load it. */
export interface S3Location {
  bucket: string;
  /** Key prefix of the repository inside the bucket, without leading or trailing '/'. */
  prefix: string;
}

export function isS3Repository(repository: string): boolean {
  return repository.startsWith('s3://');
}

export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match?.[1]) {
    throw new BackupctlError(ErrorCodes.usage, `not an S3 URL: ${url}`, {
      resolution: 'Write it as s3://BUCKET/PREFIX, e.g. s3://my-backups/devices/laptop',
    });
  }
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (!prefix) {
    throw new BackupctlError(
      ErrorCodes.usage,
      `${url} names a whole bucket: a repository lives under a prefix`,
      {
        resolution: 'Add a prefix, e.g. s3://my-backups/devices/laptop',
      },
    );
  }
  return { bucket: match[1], prefix };
}
