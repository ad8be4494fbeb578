/**
 * The one error base of backupctl. Every error the SDK throws on purpose carries a stable
 * `code` (scripts and the CLI's exit-code map rely on it), a `source` (the user's input or
 * environment vs. a fault of ours), and a `resolution`: what to do about it.
 *
 * Type checks use a `Symbol.for` brand rather than `instanceof`, so that two copies of
 * this package in one process still recognise each other's errors.
 */
const BRAND = Symbol.for('backupctl.error');

export type ErrorSource = 'user' | 'environment' | 'toolkit';

export interface BackupctlErrorOptions {
  source?: ErrorSource;
  resolution?: string;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class BackupctlError extends Error {
  readonly code: string;
  readonly source: ErrorSource;
  readonly resolution: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: BackupctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.source = options.source ?? 'user';
    this.resolution = options.resolution;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static is(value: unknown): value is BackupctlError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** Stable error codes. Never rename one: scripts match on them. */
export const ErrorCodes = {
  usage: 'USAGE',
  configMissing: 'CONFIG_MISSING',
  configInvalid: 'CONFIG_INVALID',
  repoNotFound: 'REPO_NOT_FOUND',
  repoExists: 'REPO_EXISTS',
  repoInvalid: 'REPO_INVALID',
  /** The repository's `config` object is missing (key files and packs are there) or unreadable. */
  repoConfigLost: 'REPO_CONFIG_LOST',
  repoLocked: 'REPO_LOCKED',
  wrongPassword: 'WRONG_PASSWORD',
  passwordMissing: 'PASSWORD_MISSING',
  snapshotNotFound: 'SNAPSHOT_NOT_FOUND',
  integrity: 'INTEGRITY',
  objectExists: 'OBJECT_EXISTS',
  objectNotFound: 'OBJECT_NOT_FOUND',
  storage: 'STORAGE',
  pathNotFound: 'PATH_NOT_FOUND',
  secretStoreUnavailable: 'SECRET_STORE_UNAVAILABLE',
  accessRefused: 'ACCESS_REFUSED_LOCALLY',
  quarantined: 'QUARANTINED',
  denied: 'DENIED',
  keyInvalid: 'KEY_INVALID',
  secretWrong: 'SECRET_WRONG',
  clockSkew: 'CLOCK_SKEW',
  bucketMissing: 'BUCKET_MISSING',
  offline: 'OFFLINE',
  interrupted: 'INTERRUPTED',
  /** A local disk (the cache, a local repository, a restore target) is full. */
  noSpace: 'NO_SPACE',
  /** systemd (systemctl, systemd-creds) is not there or refused: `schedule` cannot work. */
  schedulerUnavailable: 'SCHEDULER_UNAVAILABLE',
  /** No AWS credentials anywhere the SDK looks (no key stored, no profile, no env). */
  awsCredentialsMissing: 'AWS_CREDENTIALS_MISSING',
  /** AWS_PROFILE (or the configured profile) names a profile not in ~/.aws/config or credentials. */
  awsProfileMissing: 'AWS_PROFILE_MISSING',
  /** No region configured for an AWS repository. */
  awsRegionMissing: 'AWS_REGION_MISSING',
  /** The region is not a valid region name (a typo such as eu-west-l or euwest1). */
  awsRegionInvalid: 'AWS_REGION_INVALID',
  /** The endpoint is not a URL (no http:// or https://). */
  endpointInvalid: 'ENDPOINT_INVALID',
  /** `doctor` found something to fix. */
  doctorProblems: 'DOCTOR_PROBLEMS',
  deviceKeyMissing: 'DEVICE_KEY_MISSING',
  /** forget/prune (deletes) on S3 need the owner's admin credentials, never the device key. */
  adminRequired: 'ADMIN_CREDENTIALS_REQUIRED',
  /** prune refused: some snapshot could not be read, so what is still used is unknown. */
  pruneUnsafe: 'PRUNE_UNSAFE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
