import { homedir, hostname } from 'node:os';
import path from 'node:path';
import envPaths from 'env-paths';
import type { AwsSetupEnvironment } from '../health/aws-setup.js';

/**
 * The only module that reads the process environment. Everything else receives these
 * values as arguments, which keeps the SDK testable and its inputs explicit.
 */
export interface Environment {
  configDir: string;
  cacheDir: string;
  /** Repository passphrase for scripts and CI (BACKUPCTL_PASSWORD). */
  password: string | undefined;
  /** The new passphrase for `key add` / `key passwd` in scripts (BACKUPCTL_NEW_PASSWORD). */
  newPassword: string | undefined;
  /** systemd credentials folder (LoadCredential=/LoadCredentialEncrypted=). */
  credentialsDirectory: string | undefined;
  /** File that receives one JSON line per AWS request (BACKUPCTL_AWS_TRACE). */
  awsTraceFile: string | undefined;
  host: string;
  /** Where desktop notifications can go (a graphical session), if anywhere. */
  desktop: boolean;
  /** stderr is connected to the systemd journal (JOURNAL_STREAM). */
  journal: boolean;
  /** What the AWS SDK reads from the environment, checked before the first request. */
  aws?: AwsSetupEnvironment;
  /**
   * S3 idle timeout in ms (BACKUPCTL_S3_TIMEOUT_MS): a connection that sends or receives
   * nothing this long is dropped and the request retried. Default: the backend's (60 s).
   */
  s3TimeoutMs: number | undefined;
  /**
   * The device's AWS access key handed in by the environment (CI):
   * BACKUPCTL_AWS_ACCESS_KEY_ID and BACKUPCTL_AWS_SECRET_ACCESS_KEY. Never AWS_*: the
   * default chain may hold the owner's admin credentials.
   */
  deviceKey: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const paths = envPaths('backupctl', { suffix: '' });
  return {
    configDir: path.resolve(env.BACKUPCTL_CONFIG_DIR || paths.config),
    cacheDir: path.resolve(env.BACKUPCTL_CACHE_DIR || paths.cache),
    password: env.BACKUPCTL_PASSWORD || undefined,
    newPassword: env.BACKUPCTL_NEW_PASSWORD || undefined,
    credentialsDirectory: env.CREDENTIALS_DIRECTORY || undefined,
    awsTraceFile: env.BACKUPCTL_AWS_TRACE || undefined,
    host: env.BACKUPCTL_HOST || hostname(),
    desktop: Boolean(env.DISPLAY || env.WAYLAND_DISPLAY),
    journal: Boolean(env.JOURNAL_STREAM),
    s3TimeoutMs: positiveInteger(env.BACKUPCTL_S3_TIMEOUT_MS),
    aws: {
      ...(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
      ...(env.AWS_REGION || env.AWS_DEFAULT_REGION
        ? { region: env.AWS_REGION || env.AWS_DEFAULT_REGION }
        : {}),
      configFile: env.AWS_CONFIG_FILE || path.join(env.HOME || homedir(), '.aws', 'config'),
      credentialsFile:
        env.AWS_SHARED_CREDENTIALS_FILE || path.join(env.HOME || homedir(), '.aws', 'credentials'),
    },
    deviceKey:
      env.BACKUPCTL_AWS_ACCESS_KEY_ID && env.BACKUPCTL_AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.BACKUPCTL_AWS_ACCESS_KEY_ID,
            secretAccessKey: env.BACKUPCTL_AWS_SECRET_ACCESS_KEY,
          }
        : undefined,
  };
}

function positiveInteger(value: string | undefined): number | undefined {
  const n = Number(value);
  return value && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
