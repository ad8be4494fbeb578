import { BackupctlError, ErrorCodes } from '@backupctl/core';

/**
 * Every exit code of backupctl, in one place (docs/exit-codes.md repeats this table).
 * Scripts rely on them: never renumber. Any other non-zero code means failure.
 */
export const ExitCodes = {
  ok: 0,
  error: 1,
  usage: 2,
  /** push: the snapshot was written, but some files could not be read. */
  partial: 3,
  /** No device config, or no repository at the configured location. */
  notFound: 10,
  /** Another push holds the local lock. */
  locked: 11,
  /** The passphrase is wrong or missing. */
  password: 12,
  /** The device's IAM user has been quarantined (explicit deny): stop, tell the owner. */
  quarantined: 20,
  /** A request was denied without an explicit deny: the policy or bucket setup is wrong. */
  denied: 21,
  /** The access key is invalid or deleted, the secret is wrong, or the clock is skewed. */
  credentials: 22,
  /** The storage cannot be reached (offline, DNS, throttled, 5xx); retry later. */
  offline: 23,
  /** The configured bucket does not exist. */
  bucketMissing: 24,
  /** `check` found damage. */
  damaged: 25,
  /** restore: some entries could not be restored (damaged data, refused names); the rest was. */
  restorePartial: 26,
  /** restore: files already in the target differ from the snapshot and were left in place. */
  restoreConflicts: 27,
  /** The device config (config.json) is not valid: a field is wrong, unknown, or missing. */
  configInvalid: 28,
  /** A local disk is full (the cache, a local repository, a restore target). */
  noSpace: 29,
  /** The guard's prerequisites are missing (no usable CloudTrail trail); the message says what to do. */
  guardPrerequisite: 30,
  /** No usable admin credentials for an admin command (init --bucket, recover, destroy, guard …). */
  adminCredentials: 31,
  /** The bucket is set up so that device calls would be denied (SSE-KMS with a customer key). */
  bucketUnsuitable: 32,
  /** The device could not be armed or recovered: its key never worked, or the guard metric or alarm never settled. */
  armingFailed: 33,
  /** Not confirmed: no terminal to ask and no --yes, or the answer was no. */
  notConfirmed: 34,
  /** systemd cannot be used: no systemctl / systemd-creds, no running manager, or it refused. */
  scheduler: 40,
  /** The AWS client setup is wrong: no region, a region typo, an endpoint without a scheme, a missing profile. */
  awsConfig: 41,
  /** `doctor` found something to fix (each finding says what). */
  doctor: 42,
  /**
   * forget/prune (they delete) on an S3 repository without the owner's admin credentials:
   * refused before any request, since a device-key DELETE would be denied (a quarantine).
   */
  adminRequired: 45,
  /** prune stopped without deleting anything: some snapshot or tree could not be read. */
  pruneUnsafe: 46,
  /** Interrupted (SIGINT). */
  interrupted: 130,
} as const;

/** A few words for each code, for `schedule status` ("last run: exit 20 (quarantined)"). */
export const ExitCodeMeaning: Record<number, string> = {
  0: 'done',
  1: 'error',
  2: 'usage',
  3: 'partial: some files unreadable',
  10: 'not set up',
  11: 'locked: another push ran',
  12: 'passphrase wrong or missing',
  20: 'QUARANTINED',
  21: 'denied',
  22: 'credentials',
  23: 'offline',
  24: 'bucket missing',
  25: 'damaged',
  26: 'restore partial',
  27: 'restore left files',
  30: 'guard prerequisite missing',
  31: 'admin credentials',
  32: 'bucket unsuitable',
  33: 'arming failed',
  34: 'not confirmed',
  40: 'systemd unavailable',
  41: 'AWS setup',
  42: 'doctor found problems',
  45: 'admin credentials required',
  46: 'prune stopped, nothing deleted',
  130: 'interrupted',
};

const byCode: Record<string, number> = {
  [ErrorCodes.usage]: ExitCodes.usage,
  [ErrorCodes.configMissing]: ExitCodes.notFound,
  [ErrorCodes.repoNotFound]: ExitCodes.notFound,
  [ErrorCodes.repoLocked]: ExitCodes.locked,
  [ErrorCodes.wrongPassword]: ExitCodes.password,
  [ErrorCodes.passwordMissing]: ExitCodes.password,
  // The keychain holds the passphrase: when it cannot be reached, none is available.
  [ErrorCodes.secretStoreUnavailable]: ExitCodes.password,
  [ErrorCodes.quarantined]: ExitCodes.quarantined,
  [ErrorCodes.denied]: ExitCodes.denied,
  [ErrorCodes.keyInvalid]: ExitCodes.credentials,
  [ErrorCodes.secretWrong]: ExitCodes.credentials,
  [ErrorCodes.clockSkew]: ExitCodes.credentials,
  [ErrorCodes.offline]: ExitCodes.offline,
  [ErrorCodes.bucketMissing]: ExitCodes.bucketMissing,
  [ErrorCodes.integrity]: ExitCodes.damaged,
  [ErrorCodes.repoConfigLost]: ExitCodes.damaged,
  [ErrorCodes.interrupted]: ExitCodes.interrupted,
  [ErrorCodes.configInvalid]: ExitCodes.configInvalid,
  [ErrorCodes.noSpace]: ExitCodes.noSpace,
  [ErrorCodes.deviceKeyMissing]: ExitCodes.credentials,
  // @backupctl/stack's admin-side errors (init --bucket, recover, destroy, guard …).
  GUARD_PREREQUISITE_MISSING: ExitCodes.guardPrerequisite,
  TRAIL_CHECK_FAILED: ExitCodes.guardPrerequisite,
  ADMIN_CREDENTIALS_MISSING: ExitCodes.adminCredentials,
  BUCKET_UNSUITABLE: ExitCodes.bucketUnsuitable,
  DEVICE_ARMING_FAILED: ExitCodes.armingFailed,
  NOT_CONFIRMED: ExitCodes.notConfirmed,
  DEVICE_NOT_GUARDED: ExitCodes.notFound,
  [ErrorCodes.schedulerUnavailable]: ExitCodes.scheduler,
  [ErrorCodes.awsCredentialsMissing]: ExitCodes.credentials,
  [ErrorCodes.awsProfileMissing]: ExitCodes.awsConfig,
  [ErrorCodes.awsRegionMissing]: ExitCodes.awsConfig,
  [ErrorCodes.awsRegionInvalid]: ExitCodes.awsConfig,
  [ErrorCodes.endpointInvalid]: ExitCodes.awsConfig,
  [ErrorCodes.doctorProblems]: ExitCodes.doctor,
  [ErrorCodes.adminRequired]: ExitCodes.adminRequired,
  [ErrorCodes.pruneUnsafe]: ExitCodes.pruneUnsafe,
  /** @backupctl/stack's FilterPatternSyntaxError (`guard replay --pattern`): the user's input. */
  FILTER_PATTERN_SYNTAX: ExitCodes.usage,
};

/** The exit code of a stable error code (as `--json` documents carry it). */
export function exitCodeForCode(code: string): number {
  return byCode[code] ?? ExitCodes.error;
}

export function exitCodeFor(error: unknown): number {
  if (BackupctlError.is(error)) return byCode[error.code] ?? ExitCodes.error;
  const oclifExit = (error as { oclif?: { exit?: number } })?.oclif?.exit;
  if (oclifExit === 2 || isParseError(error)) return ExitCodes.usage;
  return ExitCodes.error;
}

function isParseError(error: unknown): boolean {
  const name = (error as { constructor?: { name?: string } })?.constructor?.name ?? '';
  return /Parse|Flag|Arg|RequiredArg|Unexpected|NonExistent/.test(name);
}
