import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** `config.json` in the config folder: what this device backs up, and where to. */
export interface DeviceConfig {
  version: 1;
  /** A local folder (absolute path) or `s3://bucket/prefix`. */
  repository: string;
  /** S3-compatible endpoint override; path-style addressing is used with it. */
  endpoint?: string;
  region?: string;
  /** Paths `push` backs up when given none. */
  paths: string[];
  excludes: string[];
  /** Where the repository passphrase lives: the keychain, or supplied by the environment. */
  passwordSource: 'keychain' | 'environment';
  /** The device name under `devices/` when the repository is guarded (AWS). */
  device?: string;
  /** Secret storage settings. */
  secrets?: {
    /** The OS keychain driver: `keyring` (default, @napi-rs/keyring) or `keytar` (optional). */
    keychain?: 'keyring' | 'keytar';
  };
  /** Set by `init --bucket`: where this device's guard lives, for the admin commands. */
  guard?: DeviceGuardConfig;
}

/** What `recover`, `destroy` and `guard …` need to find a device's guard again. No secret. */
export interface DeviceGuardConfig {
  accountId: string;
  /** The region of the guard (the trail's log group) and of the device stack. */
  region: string;
  bucket: string;
  /** The AWS profile `init` ran with: a name, never credentials. Admin commands default to it. */
  adminProfile?: string;
  /** IAM user of the device (under /backupctl/). */
  userName: string;
  deviceStack: string;
  guardStack: string;
  alarmName: string;
  /** The CloudWatch Logs group the trail delivers to (where recover looks up the events). */
  trailLogGroup: string;
}

export const CONFIG_FILE = 'config.json';

export async function loadDeviceConfig(configDir: string): Promise<DeviceConfig> {
  const file = path.join(configDir, CONFIG_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BackupctlError(
        ErrorCodes.configMissing,
        `this device is not set up: ${file} does not exist`,
        {
          resolution:
            'Run `backupctl init --bucket NAME` (AWS, with the guard) or `backupctl init --repo DIR` first (or set BACKUPCTL_CONFIG_DIR).',
        },
      );
    }
    throw error;
  }
  let config: DeviceConfig;
  try {
    config = JSON.parse(text) as DeviceConfig;
  } catch (error) {
    throw new BackupctlError(ErrorCodes.configInvalid, `${file} is not valid JSON`, {
      cause: error,
      resolution: 'Fix the file, or move it away and run `backupctl init` again.',
    });
  }
  if (config.version !== 1 || typeof config.repository !== 'string' || !Array.isArray(config.paths)) {
    throw new BackupctlError(ErrorCodes.configInvalid, `${file} is not a backupctl device config`, {
      resolution: 'Move it away and run `backupctl init` again.',
    });
  }
  const driver = config.secrets?.keychain;
  if (driver !== undefined && driver !== 'keyring' && driver !== 'keytar') {
    throw new BackupctlError(ErrorCodes.configInvalid, `${file}: secrets.keychain is "${String(driver)}"`, {
      resolution: 'Set it to "keyring" (the default) or "keytar", or remove it.',
    });
  }
  config.excludes ??= [];
  return config;
}

export async function saveDeviceConfig(configDir: string, config: DeviceConfig): Promise<string> {
  const file = path.join(configDir, CONFIG_FILE);
  await writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}
