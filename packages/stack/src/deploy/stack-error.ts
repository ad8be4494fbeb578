/**
 * The error base of the admin-side stack code (templates, deploy, trail). It mirrors
 * `BackupctlError` of `@backupctl/core` — same `Symbol.for('backupctl.error')` brand, so
 * `BackupctlError.is(error)` recognises these too — without importing core, which this
 * package does not depend on yet. Every error has a stable `code` and a `resolution`.
 */
const BRAND = Symbol.for('backupctl.error');

export type StackErrorSource = 'user' | 'environment' | 'toolkit';

export interface StackErrorOptions {
  source?: StackErrorSource;
  resolution?: string;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class StackError extends Error {
  readonly code: string;
  readonly source: StackErrorSource;
  readonly resolution: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: StackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.source = options.source ?? 'environment';
    this.resolution = options.resolution;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static is(value: unknown): value is StackError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** The AWS SDK's error name, or undefined for anything that is not an SDK error. */
export function awsErrorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const name = (error as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

export function awsErrorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
