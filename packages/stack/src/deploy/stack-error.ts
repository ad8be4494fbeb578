import { BackupctlError, type ErrorSource } from '@backupctl/core';

/**
 * The error base of the admin-side stack code (templates, deploy, trail): a
 * `BackupctlError` (stable `code`, `resolution`, the cause kept) whose default source is
 * the environment — AWS said no — rather than the user's input.
 */
export type StackErrorSource = ErrorSource;

export interface StackErrorOptions {
  source?: StackErrorSource;
  resolution?: string;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class StackError extends BackupctlError {
  constructor(code: string, message: string, options: StackErrorOptions = {}) {
    super(code, message, { ...options, source: options.source ?? 'environment' });
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
