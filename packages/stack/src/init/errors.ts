import { StackError } from '../deploy/stack-error.js';

/** Stable codes of the admin-side errors of init, recover, destroy and the guard commands. */
export const GuardErrorCodes = {
  /** The trail the guard needs is missing or unusable (exit 30). */
  prerequisiteMissing: 'GUARD_PREREQUISITE_MISSING',
  /** No admin credentials could be found or they expired (exit 31). */
  adminCredentialsMissing: 'ADMIN_CREDENTIALS_MISSING',
  /** The bucket is set up so that device calls would be denied (exit 32). */
  bucketUnsuitable: 'BUCKET_UNSUITABLE',
  /** The device could not be armed: the key never worked, or the metric never went quiet (exit 33). */
  armingFailed: 'DEVICE_ARMING_FAILED',
  /** The user did not confirm (or could not be asked) (exit 34). */
  notConfirmed: 'NOT_CONFIRMED',
  /** This device has no guard in its config (set up with `init --repo`). */
  notGuarded: 'DEVICE_NOT_GUARDED',
} as const;

export class GuardPrerequisiteError extends StackError {
  constructor(message: string, resolution: string, details: Record<string, unknown> = {}) {
    super(GuardErrorCodes.prerequisiteMissing, message, { source: 'environment', resolution, details });
  }
}

export class AdminCredentialsError extends StackError {
  constructor(cause: unknown, profile: string | undefined) {
    super(
      GuardErrorCodes.adminCredentialsMissing,
      `no usable admin credentials${profile ? ` in profile ${profile}` : ''}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      {
        source: 'user',
        cause,
        resolution: profile
          ? `Check the profile (for SSO: aws sso login --profile ${profile}), then run the command again.`
          : "Give the owner's admin credentials: --profile NAME (a profile of ~/.aws/config, SSO included) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment.",
        details: { profile },
      },
    );
  }
}

export class BucketUnsuitableError extends StackError {
  constructor(message: string, resolution: string, details: Record<string, unknown> = {}) {
    super(GuardErrorCodes.bucketUnsuitable, message, { source: 'environment', resolution, details });
  }
}

export class ArmingError extends StackError {
  constructor(message: string, resolution: string, details: Record<string, unknown> = {}) {
    super(GuardErrorCodes.armingFailed, message, { source: 'environment', resolution, details });
  }
}

export class NotConfirmedError extends StackError {
  constructor(what: string) {
    super(GuardErrorCodes.notConfirmed, `not confirmed: ${what}`, {
      source: 'user',
      resolution: 'Run it again in a terminal to be asked, or pass --yes.',
    });
  }
}

const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'TokenProviderError',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
]);

/** Turns "no admin credentials" (anywhere in the cause chain) into AdminCredentialsError. */
export function asAdminCredentialsError(error: unknown, profile: string | undefined): unknown {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e !== undefined && e !== null; depth++) {
    const name = (e as { name?: unknown }).name;
    if (typeof name === 'string' && CREDENTIAL_ERRORS.has(name)) return new AdminCredentialsError(e, profile);
    e = (e as { cause?: unknown }).cause;
  }
  return error;
}
