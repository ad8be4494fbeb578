import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type CliResult, runCli } from './run-backupctl.js';

export { assertBuilt, BIN, ROOT } from './run-backupctl.js';

export type BinResult = CliResult;

/** Runs `node packages/cli/bin/run.js ARGS` to its end with exactly `env` on top of a clean environment. */
export function runBin(args: string[], env: Record<string, string | undefined>): Promise<BinResult> {
  return runCli(args, { env });
}

export const PASSWORD = 'correct horse battery staple';

/** A device of its own against an S3-protocol server: config, cache, source tree in a temporary folder. */
export interface S3Device {
  dir: string;
  /** Folder `push` backs up. */
  src: string;
  env: Record<string, string | undefined>;
  run(args: string[], extra?: Record<string, string | undefined>): Promise<BinResult>;
  remove(): Promise<void>;
}

export async function makeS3Device(options: { traceFile?: string } = {}): Promise<S3Device> {
  const dir = await mkdtemp(path.join(tmpdir(), 'backupctl-e2e-'));
  const src = path.join(dir, 'src');
  await mkdir(path.join(dir, 'home'), { recursive: true });
  await mkdir(src, { recursive: true });
  const env: Record<string, string | undefined> = {
    HOME: path.join(dir, 'home'),
    BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
    BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
    BACKUPCTL_PASSWORD: PASSWORD,
    BACKUPCTL_HOST: 'e2e-host',
    // s3rver's credentials, as a CI job hands the device key in (never the AWS_* chain);
    // the region the client signs for.
    BACKUPCTL_AWS_ACCESS_KEY_ID: 'S3RVER',
    BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    // No shared config or credentials file of the runner's user.
    AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'),
    ...(options.traceFile ? { BACKUPCTL_AWS_TRACE: options.traceFile } : {}),
  };
  return {
    dir,
    src,
    env,
    run: (args, extra = {}) => runBin(args, { ...env, ...extra }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
