import path from 'node:path';
import type { Backend } from './backend.js';
import type { BackendTarget, OpenBackendOptions } from './backend-target.js';
import { LocalBackend } from './local-backend.js';
import { isS3Repository } from './s3-location.js';

export type { BackendTarget, OpenBackendOptions } from './backend-target.js';
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
