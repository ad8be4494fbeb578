/**
 * Classifies an AWS error into a health status, by the error's `name` (the S3 error code)
 * and HTTP status — never by guessing. The message is read only where S3 itself puts the
 * distinction there: the kind of deny of a same-account 403, and the ARN of the denying
 * policy that newer messages append (see shared/aws-errors/ and the IAM User Guide,
 * "Troubleshoot access denied error messages").
 *
 * A HEAD has no response body, so a 403 to a HeadObject carries no code and no message:
 * it is 'unknown-denied' with `needsProbe`, and the caller then makes one GET or LIST
 * (`probeHealth`) to learn which kind of deny it was. Never STS: GetCallerIdentity cannot be
 * denied, and the guard treats every call of it as a thief's.
 */

export type HealthStatus =
  /** AWS answered and authorised the request (including 404 NoSuchKey, 412 PreconditionFailed). */
  | 'ok'
  /** Explicit deny in an identity-based policy: a deny policy was attached to the device user. */
  | 'quarantined'
  /** Implicit deny ("because no … policy allows"), or an explicit deny outside the user's own policies: setup. */
  | 'denied'
  /** A 403 that does not say which kind of deny (HEAD without body, or a generic "Access Denied"). */
  | 'unknown-denied'
  /** InvalidAccessKeyId: the access key is deleted or never existed. */
  | 'key-invalid'
  /** SignatureDoesNotMatch: the secret does not belong to the key. */
  | 'secret-wrong'
  /** RequestTimeTooSkewed: the device clock is off by more than 15 minutes. */
  | 'clock-skew'
  /** NoSuchBucket. */
  | 'bucket-missing'
  /** No answer, a 5xx, or throttling: retry later. Never a quarantine. */
  | 'offline'
  /** Anything else: reported as is. */
  | 'unknown';

/** Who attached the denying policy, when the message names it. */
export type QuarantinePolicy = 'backupctl-guard' | 'aws-compromised-key' | 'unknown';

export interface HealthAssessment {
  status: HealthStatus;
  /** Worth retrying later without any change (only 'offline'). */
  retryable: boolean;
  /** The error's name (S3 error code) and HTTP status, as the SDK gave them. */
  errorName?: string;
  httpStatus?: number;
  /** The error message, whitespace collapsed. */
  message?: string;
  /** From a deny message: the action and resource that were denied. */
  action?: string;
  resource?: string;
  /** 'quarantined' only. */
  policy?: QuarantinePolicy;
  policyArn?: string;
  /** 'denied' only: which kind of policy denied. */
  deny?: 'implicit' | 'explicit-other';
  /** 'unknown-denied' from a body-less answer (HEAD): make one GET or LIST to learn more. */
  needsProbe?: boolean;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ECONNABORTED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);
const NETWORK_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'NetworkingError',
]);
const THROTTLING_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'BandwidthLimitExceeded',
]);
const SERVER_NAMES = new Set(['InternalError', 'ServiceUnavailable']);
/**
 * Answers that prove the request was authorised. Not 'NotFound': a body-less HEAD 404 may
 * be a missing key or a missing bucket, so it stays 'unknown'.
 */
const AUTHORISED_NAMES = new Set(['NoSuchKey', 'PreconditionFailed', 'ConditionalRequestConflict']);
/**
 * Names the SDK gives a 403 it could not parse a code from (HEAD: no body). SDK 3.1173 says
 * name 'Unknown', message 'UnknownError'; older releases said '403' or 'Forbidden'.
 */
const BODYLESS_403_NAMES = new Set(['Unknown', 'UnknownError', '403', 'Forbidden']);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { statusCode?: unknown };
}

function statusOf(error: ErrorLike): number | undefined {
  const status = error.$metadata?.httpStatusCode ?? error.$response?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Collapses the whitespace of a message (pretty-printed XML bodies carry newlines). */
export function normaliseMessage(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}

const ACTION = /not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)/;
const RESOURCE = /on resource: "?([^"\s]+?)"?(?= with | because |\.?$)/;
const EXPLICIT_IDENTITY = /with an explicit deny in an identity-based policy/i;
const EXPLICIT_ANY = /with an explicit deny/i;
const IMPLICIT = /because no [A-Za-z -]+ allows/i;
// "… with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/Name. Go to …"
// (IAM User Guide, "Troubleshoot access denied error messages with authorization ID").
const POLICY_ARN =
  /explicit deny in an identity-based policy:\s*(arn:[a-z-]+:iam::(?:aws|\d{12}):policy\/[\w+=,.@/-]*[\w+=,@/-])/i;

/** Which quarantine policy an ARN names. */
export function quarantinePolicyOf(policyArn: string | undefined): QuarantinePolicy {
  if (policyArn === undefined) return 'unknown';
  if (/^arn:[a-z-]+:iam::aws:policy\/AWSDenyAll$/.test(policyArn)) return 'backupctl-guard';
  if (/^arn:[a-z-]+:iam::aws:policy\/AWSCompromisedKeyQuarantine\w*$/.test(policyArn))
    return 'aws-compromised-key';
  return 'unknown';
}

function denyAssessment(base: HealthAssessment, message: string): HealthAssessment {
  const action = ACTION.exec(message)?.[1];
  const resource = RESOURCE.exec(message)?.[1];
  const where = { ...(action ? { action } : {}), ...(resource ? { resource } : {}) };
  if (EXPLICIT_IDENTITY.test(message)) {
    const policyArn = POLICY_ARN.exec(message)?.[1];
    return {
      ...base,
      ...where,
      status: 'quarantined',
      policy: quarantinePolicyOf(policyArn),
      ...(policyArn ? { policyArn } : {}),
    };
  }
  if (EXPLICIT_ANY.test(message)) return { ...base, ...where, status: 'denied', deny: 'explicit-other' };
  if (IMPLICIT.test(message)) return { ...base, ...where, status: 'denied', deny: 'implicit' };
  return { ...base, ...where, status: 'unknown-denied', needsProbe: false };
}

/**
 * The health status an error shows. Unwraps one level of `cause` for errors that wrap an
 * AWS error (a BackupctlError around an SDK error).
 */
export function classifyAwsError(error: unknown): HealthAssessment {
  if (typeof error !== 'object' || error === null) {
    return { status: 'unknown', retryable: false, message: String(error) };
  }
  const e = error as ErrorLike;
  const name = typeof e.name === 'string' ? e.name : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const httpStatus = statusOf(e);
  const message = typeof e.message === 'string' ? normaliseMessage(e.message) : undefined;
  const base: HealthAssessment = {
    status: 'unknown',
    retryable: false,
    ...(name !== undefined ? { errorName: name } : {}),
    ...(httpStatus !== undefined ? { httpStatus } : {}),
    ...(message ? { message } : {}),
  };

  // A wrapper of ours (no HTTP status of its own) around an AWS error: classify the AWS error.
  if (httpStatus === undefined && e.cause !== undefined && typeof e.cause === 'object' && e.cause !== null) {
    const inner = classifyAwsError(e.cause);
    if (inner.status !== 'unknown') return inner;
  }

  switch (name) {
    case 'InvalidAccessKeyId':
      return { ...base, status: 'key-invalid' };
    case 'SignatureDoesNotMatch':
      return { ...base, status: 'secret-wrong' };
    case 'RequestTimeTooSkewed':
      return { ...base, status: 'clock-skew' };
    case 'NoSuchBucket':
      return { ...base, status: 'bucket-missing' };
    case 'AccessDenied':
      return denyAssessment(base, message ?? '');
  }
  if (name !== undefined && AUTHORISED_NAMES.has(name)) return { ...base, status: 'ok' };
  if (
    (code !== undefined && NETWORK_CODES.has(code)) ||
    (name !== undefined &&
      (NETWORK_NAMES.has(name) || THROTTLING_NAMES.has(name) || SERVER_NAMES.has(name))) ||
    httpStatus === 429 ||
    (httpStatus !== undefined && httpStatus >= 500 && httpStatus <= 599)
  ) {
    return { ...base, status: 'offline', retryable: true };
  }
  if (httpStatus === 403 && name !== undefined && BODYLESS_403_NAMES.has(name)) {
    return { ...base, status: 'unknown-denied', needsProbe: true };
  }
  return base;
}
