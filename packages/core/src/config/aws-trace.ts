/** `BACKUPCTL_AWS_TRACE=<file>`: append one JSON line per AWS request sent (see access/guard-middleware.ts). */
export const AWS_TRACE_ENV = 'BACKUPCTL_AWS_TRACE';

/** The trace file named by the environment, or undefined when tracing is off. */
export function awsTraceFileFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[AWS_TRACE_ENV];
  return value === undefined || value.trim() === '' ? undefined : value;
}
