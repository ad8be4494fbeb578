import type { S3Client } from '@aws-sdk/client-s3';
import { classifyAwsError, type HealthAssessment } from './classify.js';
import { QuarantinedError } from './quarantined-error.js';

export const QUARANTINE_BREAKER_MIDDLEWARE = 'backupctlQuarantineBreaker';

export interface QuarantineBreaker {
  /** The assessment of the explicit deny that tripped the breaker, if any. */
  readonly tripped: HealthAssessment | undefined;
}

type AnyHandler = (args: unknown) => Promise<unknown>;
type AnyMiddleware = (next: AnyHandler, context: { commandName?: string }) => AnyHandler;

/**
 * Stops a client at the first explicit deny. Sits inside the SDK's retry loop (right after
 * `retryMiddleware`), so it sees every attempt: the attempt that meets an explicit deny in an
 * identity-based policy throws a QuarantinedError (never retried: it has no HTTP status, so
 * the retry strategy classifies it as a client error), and every later attempt or command on
 * this client — including ones already in flight or waiting in a retry back-off — is
 * refused locally with the same error. One denied call is enough.
 */
export function installQuarantineBreaker(
  client: S3Client,
  options: { onQuarantine?: (assessment: HealthAssessment, command: string) => void } = {},
): QuarantineBreaker {
  const state: { tripped: HealthAssessment | undefined } = { tripped: undefined };
  const breaker: AnyMiddleware = (next, context) => async (args) => {
    const command = context.commandName ?? 'unknown';
    if (state.tripped) throw new QuarantinedError(state.tripped, { command });
    try {
      return await next(args);
    } catch (error) {
      const assessment = classifyAwsError(error);
      if (assessment.status !== 'quarantined') throw error;
      if (!state.tripped) {
        state.tripped = assessment;
        options.onQuarantine?.(assessment, command);
      }
      throw new QuarantinedError(assessment, { cause: error, command });
    }
  };
  (client.middlewareStack as unknown as { addRelativeTo(m: AnyMiddleware, o: object): void }).addRelativeTo(
    breaker,
    {
      relation: 'after',
      toMiddleware: 'retryMiddleware',
      name: QUARANTINE_BREAKER_MIDDLEWARE,
      tags: ['BACKUPCTL', 'HEALTH'],
      override: true,
    },
  );
  return {
    get tripped() {
      return state.tripped;
    },
  };
}

export const NO_403_RETRY_MIDDLEWARE = 'backupctlNo403Retry';

/**
 * Makes sure the SDK never repeats a request S3 answered with 403 (a denial: CloudTrail logs
 * each one, and the guard quarantines on the first). The standard retry strategy does not
 * retry 403s — except when the answer's Date header shows a clock skew of 4 minutes or more,
 * which the SDK "corrects" and then retries (`$metadata.clockSkewCorrected`), up to
 * maxAttempts times. This clears that flag on every 403 but RequestTimeTooSkewed (S3 refused
 * the signature's time before any authorisation, and the corrected retry is what fixes it).
 */
export function installNo403Retry(client: S3Client): void {
  const middleware: AnyMiddleware = (next) => async (args) => {
    try {
      return await next(args);
    } catch (error) {
      const e = error as {
        name?: string;
        $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
      };
      if (e?.$metadata?.httpStatusCode === 403 && e.name !== 'RequestTimeTooSkewed') {
        e.$metadata.clockSkewCorrected = false;
      }
      throw error;
    }
  };
  (client.middlewareStack as unknown as { addRelativeTo(m: AnyMiddleware, o: object): void }).addRelativeTo(
    middleware,
    {
      relation: 'before',
      toMiddleware: 'httpSigningMiddleware',
      name: NO_403_RETRY_MIDDLEWARE,
      tags: ['BACKUPCTL', 'RETRY'],
      override: true,
    },
  );
}

/** Rethrows an error as a QuarantinedError when it is an explicit deny; otherwise as is. */
export function rethrowIfQuarantined(error: unknown, command?: string): never {
  const assessment = classifyAwsError(error);
  if (assessment.status === 'quarantined') throw new QuarantinedError(assessment, { cause: error, command });
  throw error;
}
