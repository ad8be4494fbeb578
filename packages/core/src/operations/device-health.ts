import type { Environment } from '../config/environment.js';
import { assessmentOf, toBackupctlError } from '../health/aws-failure.js';
import { explainSetupError } from '../health/aws-setup.js';
import { probeHealth } from '../health/probe.js';
import { QuarantineStateStore } from '../health/state-store.js';
import { resolveDeviceKey } from '../secrets/device-key.js';
import type { SecretStore } from '../secrets/secret-store.js';
import {
  type BackendTarget,
  isS3Repository,
  type OpenBackendOptions,
  openBackend,
} from '../storage/open-backend.js';
import type { S3Backend } from '../storage/s3-backend.js';

export function healthStore(env: Environment): QuarantineStateStore {
  return new QuarantineStateStore(env.cacheDir);
}

/**
 * Runs one device operation against its repository and keeps the saved health state equal
 * to the latest answer: ok after success; the classified failure otherwise (a device
 * recovered by hand is healthy again at its next run). AWS failures come out as
 * BackupctlErrors with stable codes; a body-less 403 (HEAD) is settled by one LIST probe.
 */
export async function withDeviceHealth<T>(
  env: Environment,
  config: BackendTarget & { device?: string },
  work: () => Promise<T>,
  options: { keychain?: SecretStore; credentials?: OpenBackendOptions['credentials'] } = {},
): Promise<T> {
  if (!isS3Repository(config.repository)) return work();
  const store = healthStore(env);
  try {
    const result = await work();
    // Best effort: the work is done (a snapshot written); a full cache disk must not undo that.
    await store.record({ status: 'ok', retryable: false }).catch(() => undefined);
    return result;
  } catch (error) {
    // The SDK's client-side setup failures (no credentials, no region…): no request was
    // answered, so the health state stays as it was.
    const setup = explainSetupError(error, config);
    if (setup) throw setup;
    let assessment = assessmentOf(error);
    if (!assessment) throw error;
    if (assessment.needsProbe) {
      // The probe signs with the device key too; without one there is nothing to ask.
      const credentials =
        options.credentials ??
        (await resolveDeviceKey({ env, config, keychain: options.keychain }).catch(() => undefined));
      const backend = credentials
        ? await openBackend(config, { traceFile: env.awsTraceFile, timeoutMs: env.s3TimeoutMs, credentials })
        : undefined;
      if (backend && isS3Repository(backend.location)) {
        const s3 = backend as S3Backend;
        const probe = await probeHealth(s3.client, {
          bucket: s3.where.bucket,
          prefix: s3.where.prefix,
        });
        assessment = probe.assessment;
      }
    }
    await store.record(assessment).catch(() => undefined);
    throw toBackupctlError(error, assessment);
  }
}
