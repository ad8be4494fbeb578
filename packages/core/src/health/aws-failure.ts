import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { classifyAwsError, type HealthAssessment } from './classify.js';
import { QuarantinedError } from './quarantined-error.js';

/** The assessment behind an error, if it came from AWS (directly or as a cause). */
export function assessmentOf(error: unknown): HealthAssessment | undefined {
  if (error instanceof QuarantinedError) return error.assessment;
  if (BackupctlError.is(error)) {
    const cause = (error as { cause?: unknown }).cause;
    return cause !== undefined && isAwsError(cause) ? classifyAwsError(cause) : undefined;
  }
  if (isAwsError(error) || isNetworkError(error)) return classifyAwsError(error);
  return undefined;
}

function isAwsError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && '$metadata' in error;
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

/**
 * Turns an AWS failure into a BackupctlError with a stable code (and so an exit code) and
 * a next step. Quarantine is never inferred here: only QuarantinedError says it.
 */
export function toBackupctlError(error: unknown, assessment: HealthAssessment): BackupctlError {
  if (error instanceof QuarantinedError) return error;
  if (assessment.status === 'quarantined') return new QuarantinedError(assessment, { cause: error });
  const said = assessment.message ? ` AWS said: ${assessment.message}` : '';
  const table: Partial<Record<HealthAssessment['status'], [string, string, string]>> = {
    denied: [
      ErrorCodes.denied,
      `AWS denied ${assessment.action ?? 'a request'}: no policy allows it (a setup problem, not a quarantine).`,
      "Check the device's IAM policy (`backupctl guard policy`) and the bucket policy.",
    ],
    'unknown-denied': [
      ErrorCodes.denied,
      'AWS denied a request without saying why.',
      'Run `backupctl status` to probe which kind of deny it is.',
    ],
    'key-invalid': [
      ErrorCodes.keyInvalid,
      'the access key is invalid or was deleted.',
      'If you did not delete it, run `backupctl status` for the recorded details; `backupctl recover` (admin credentials) stores a new key.',
    ],
    'secret-wrong': [
      ErrorCodes.secretWrong,
      'the secret access key does not match the key id.',
      'Store a new key with `backupctl recover` (admin credentials), or fix BACKUPCTL_AWS_SECRET_ACCESS_KEY.',
    ],
    'clock-skew': [
      ErrorCodes.clockSkew,
      "this device's clock is off by more than 15 minutes.",
      'Fix the clock (timedatectl set-ntp true), then try again.',
    ],
    'bucket-missing': [
      ErrorCodes.bucketMissing,
      'the bucket does not exist.',
      'Check the repository URL in the device config, or create the bucket.',
    ],
    offline: [
      ErrorCodes.offline,
      'the storage could not be reached.',
      'Check the network; the next run retries.',
    ],
  };
  const entry = table[assessment.status];
  if (!entry)
    return BackupctlError.is(error)
      ? error
      : new BackupctlError(ErrorCodes.storage, `AWS error.${said}`, { cause: error });
  const [code, message, resolution] = entry;
  return new BackupctlError(code, `${message}${said}`, {
    source: 'environment',
    resolution,
    cause: error,
    details: { health: assessment.status },
  });
}
