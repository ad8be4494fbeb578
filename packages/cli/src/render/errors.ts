import { BackupctlError, errorMessage } from '@backupctl/core';
import { ExitCodes, exitCodeFor } from '../exit-codes.js';

export interface RenderedError {
  code: string;
  message: string;
  resolution?: string;
  details?: Record<string, unknown>;
}

/** oclif's own texts carry a trailing "See more help with --help": we say it our way. */
function cleanMessage(error: unknown): string {
  const message = errorMessage(error).split('\nSee more help with')[0] ?? errorMessage(error);
  // oclif's flag errors: "The following error occurred:\n  --a=true cannot also be provided when using --b"
  const lines = message
    .replace(/^Error: /, '')
    .replace(/^The following errors? occurred:\s*/, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.join('; ');
}

export function describeError(error: unknown): { rendered: RenderedError; exitCode: number } {
  const exitCode = exitCodeFor(error);
  const code = BackupctlError.is(error) ? error.code : exitCode === ExitCodes.usage ? 'USAGE' : 'INTERNAL';
  const rendered: RenderedError = { code, message: cleanMessage(error) };
  if (BackupctlError.is(error)) {
    if (error.resolution) rendered.resolution = error.resolution;
    if (error.details) rendered.details = error.details;
  }
  return { rendered, exitCode };
}

/**
 * The one error style of backupctl, for commands and for oclif's own errors alike:
 *   error: what went wrong
 *     next: what to do
 * or, with --json, {"error": {code, message, resolution, details}, "exitCode": N} on stdout.
 */
export function printError(error: unknown, json: boolean, commandId?: string): number {
  const { rendered, exitCode } = describeError(error);
  if (json) {
    process.stdout.write(`${JSON.stringify({ error: rendered, exitCode }, null, 2)}\n`);
    return exitCode;
  }
  const prefix = process.env.JOURNAL_STREAM ? '<3>' : '';
  process.stderr.write(`${prefix}error: ${rendered.message}\n`);
  if (rendered.resolution) process.stderr.write(`${prefix}  next: ${rendered.resolution}\n`);
  if (exitCode === ExitCodes.usage && !rendered.resolution)
    process.stderr.write(
      `${prefix}  see: backupctl ${(commandId ?? '').replaceAll(':', ' ')}${commandId ? ' ' : ''}--help\n`,
    );
  if (rendered.code === 'INTERNAL' && process.env.BACKUPCTL_DEBUG && error instanceof Error)
    process.stderr.write(`${error.stack}\n`);
  return exitCode;
}
