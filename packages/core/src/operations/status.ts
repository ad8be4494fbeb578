import path from 'node:path';
import { CONFIG_FILE, type DeviceConfig, loadDeviceConfig } from '../config/device-config.js';
import { BackupctlError, errorMessage } from '../errors/index.js';
import { assessmentOf, toBackupctlError } from '../health/aws-failure.js';
import { explainSetupError } from '../health/aws-setup.js';
import type { HealthStatus } from '../health/classify.js';
import type { HealthState } from '../health/state-store.js';
import { loadIndex } from '../repository/index-sync.js';
import type { Repository } from '../repository/repository.js';
import { healthStore } from './device-health.js';
import { type LastRun, loadLastRun } from './last-run.js';
import { type OpenSessionOptions, openSession } from './session.js';

export interface DeviceStatus {
  device: {
    configFile: string;
    repository: string;
    paths: string[];
    excludes: string[];
    host: string;
    passwordSource: DeviceConfig['passwordSource'];
  };
  repository: {
    reachable: boolean;
    id?: string;
    snapshots?: number;
    latest?: { id: string; time: string; files: number; bytes: number };
    /** What the repository stores, and how much the snapshots would be without deduplication. */
    size?: RepositorySize;
    error?: { code: string; message: string };
  };
  health: {
    state: HealthStatus;
    /** When this answer was seen. */
    time: string;
    /**
     * 'probe': asked just now; 'saved': the last recorded answer (nothing asked now);
     * 'none': nothing could be asked (no passphrase, no credentials…), so nothing is known.
     */
    source: 'probe' | 'saved' | 'none';
    message?: string;
    request?: HealthState['request'];
    policy?: HealthState['policy'];
  };
  lastPush?: LastRun;
}

export interface RepositorySize {
  packs: number;
  /** Bytes of all indexed packs: what the storage bills (before versioning). */
  storedBytes: number;
  /** Bytes of unique content before compression and encryption. */
  uniqueBytes: number;
  /** The sum of every snapshot's file bytes: what restoring all of them would write. */
  snapshotBytes: number;
  /** snapshotBytes / storedBytes (0 when nothing is stored). */
  dedupRatio: number;
}

/** Sizes from the index (cached locally after the first download) and the snapshot summaries. */
export function repositorySize(
  repo: Repository,
  snapshots: Array<{ summary: { bytes: number } }>,
): RepositorySize {
  let storedBytes = 0;
  let packs = 0;
  for (const [, size] of repo.index.packIds()) {
    storedBytes += size;
    packs++;
  }
  let uniqueBytes = 0;
  for (const blob of repo.index.allBlobs()) if (blob.type === 'data') uniqueBytes += blob.rawLength;
  const snapshotBytes = snapshots.reduce((sum, s) => sum + s.summary.bytes, 0);
  return {
    packs,
    storedBytes,
    uniqueBytes,
    snapshotBytes,
    dedupRatio: storedBytes > 0 ? Math.round((snapshotBytes / storedBytes) * 10) / 10 : 0,
  };
}

/**
 * How this device stands. Opening the repository is the probe: one allowed request (a GET
 * of its config) whose answer is classified and saved. When the saved state says
 * quarantined, no AWS request is made: the saved state is shown as is, until a push's
 * single probe finds the device recovered.
 */
export async function deviceStatus(
  options: Omit<OpenSessionOptions, 'config'> & { probe?: boolean },
): Promise<DeviceStatus> {
  const env = options.env;
  const config = await loadDeviceConfig(env.configDir);
  const store = healthStore(env);
  const saved = await store.load().catch(() => undefined);
  const status: DeviceStatus = {
    device: {
      configFile: path.join(env.configDir, CONFIG_FILE),
      repository: config.repository,
      paths: config.paths,
      excludes: config.excludes,
      host: env.host,
      passwordSource: config.passwordSource,
    },
    repository: { reachable: false },
    health: saved
      ? {
          state: saved.status,
          time: saved.time,
          source: 'saved',
          message: saved.message,
          request: saved.request,
          policy: saved.policy,
        }
      : { state: 'ok', time: new Date().toISOString(), source: 'saved' },
    lastPush: await loadLastRun(env.cacheDir),
  };
  if (saved?.status === 'quarantined' && options.probe !== true) return status;
  try {
    const session = await openSession({ ...options, config });
    const snapshots = await session.repo.listSnapshots(session.cache);
    const latest = snapshots.at(-1);
    await loadIndex(session.repo, session.cache);
    status.repository = {
      reachable: true,
      id: session.repo.config.id,
      snapshots: snapshots.length,
      size: repositorySize(session.repo, snapshots),
      ...(latest
        ? {
            latest: {
              id: latest.id,
              time: latest.time,
              files: latest.summary.files,
              bytes: latest.summary.bytes,
            },
          }
        : {}),
    };
    const state = await store.record({ status: 'ok', retryable: false }, { action: 's3:GetObject' });
    status.health = { state: state.status, time: state.time, source: 'probe' };
  } catch (caught) {
    const assessed = assessmentOf(caught);
    // The same coded error (and message) a push would have shown.
    const error =
      explainSetupError(caught, config) ?? (assessed ? toBackupctlError(caught, assessed) : caught);
    status.repository.error = {
      code: BackupctlError.is(error) ? error.code : 'STORAGE',
      message: errorMessage(error),
    };
    const assessment = BackupctlError.is(error) && error.code.startsWith('AWS_') ? undefined : assessed;
    if (!assessment) {
      // Nothing answered (no passphrase, no credentials, a local folder gone): the saved
      // state is not news about now. Never "ok" beside "unreachable".
      status.health = {
        state: 'unknown',
        time: new Date().toISOString(),
        source: 'none',
        message: `not checked: ${errorMessage(error)}`,
      };
    } else {
      const state = await store.record(assessment);
      status.health = {
        state: state.status,
        time: state.time,
        source: 'probe',
        message: state.message,
        request: state.request,
        policy: state.policy,
      };
    }
  }
  return status;
}
