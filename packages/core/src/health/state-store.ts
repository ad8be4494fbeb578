import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/backupctl-error.js';
import type { HealthAssessment, HealthStatus, QuarantinePolicy } from './classify.js';

/** The request whose answer a state records. */
export interface HealthRequest {
  command?: string;
  action?: string;
  resource?: string;
}

/** The latest health answer, as saved on the device so `status` can show it offline. */
export interface HealthState {
  version: 1;
  status: HealthStatus;
  /** When the answer came (ISO 8601). */
  time: string;
  request?: HealthRequest;
  message?: string;
  errorName?: string;
  httpStatus?: number;
  policy?: QuarantinePolicy;
  policyArn?: string;
}

export function healthStateFrom(
  assessment: HealthAssessment,
  request: HealthRequest = {},
  now: Date = new Date(),
): HealthState {
  const state: HealthState = { version: 1, status: assessment.status, time: now.toISOString() };
  const req: HealthRequest = {
    ...(request.command ? { command: request.command } : {}),
    ...((request.action ?? assessment.action) ? { action: request.action ?? assessment.action } : {}),
    ...((request.resource ?? assessment.resource)
      ? { resource: request.resource ?? assessment.resource }
      : {}),
  };
  if (Object.keys(req).length > 0) state.request = req;
  if (assessment.message) state.message = assessment.message;
  if (assessment.errorName) state.errorName = assessment.errorName;
  if (assessment.httpStatus !== undefined) state.httpStatus = assessment.httpStatus;
  if (assessment.policy) state.policy = assessment.policy;
  if (assessment.policyArn) state.policyArn = assessment.policyArn;
  return state;
}

const STATUSES: ReadonlySet<string> = new Set<HealthStatus>([
  'ok',
  'quarantined',
  'denied',
  'unknown-denied',
  'key-invalid',
  'secret-wrong',
  'clock-skew',
  'bucket-missing',
  'offline',
  'unknown',
]);

/**
 * Keeps the latest health answer as JSON in the state directory. Every answer overwrites
 * the previous one — a device recovered by hand is healthy again at its next run. Writes
 * are atomic (temporary file + rename), so a reader never sees half a file.
 */
export class QuarantineStateStore {
  static readonly FILE = 'health.json';
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, QuarantineStateStore.FILE);
  }

  async save(state: HealthState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      await rename(tmp, this.file);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  /** Saves the state an assessment shows; returns it. */
  async record(assessment: HealthAssessment, request?: HealthRequest, now?: Date): Promise<HealthState> {
    const state = healthStateFrom(assessment, request, now);
    await this.save(state);
    return state;
  }

  /** The latest state, or undefined when none was recorded yet. */
  async load(): Promise<HealthState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let state: unknown;
    try {
      state = JSON.parse(text);
    } catch (error) {
      throw invalid(this.file, error);
    }
    const s = state as Partial<HealthState>;
    if (
      s?.version !== 1 ||
      typeof s.status !== 'string' ||
      !STATUSES.has(s.status) ||
      typeof s.time !== 'string'
    ) {
      throw invalid(this.file);
    }
    return s as HealthState;
  }
}

function invalid(file: string, cause?: unknown): BackupctlError {
  return new BackupctlError(ErrorCodes.integrity, `the health state file ${file} is not valid`, {
    source: 'environment',
    resolution: 'Delete it; the next `backupctl push` or `backupctl status --probe` records a fresh state.',
    cause,
  });
}
