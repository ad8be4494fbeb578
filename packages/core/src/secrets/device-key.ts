import type { DeviceConfig } from '../config/device-config.js';
import type { Environment } from '../config/environment.js';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { SystemdCredentialStore } from './read-only-stores.js';
import { deviceKeyAccount, type SecretStore } from './secret-store.js';

/** A device's AWS access key, as the secret store holds it. */
export interface DeviceKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** systemd credential name (LoadCredentialEncrypted=backupctl-aws-access-key:…) of the device key (JSON). */
export const SYSTEMD_DEVICE_KEY_CREDENTIAL = 'backupctl-aws-access-key';

/** The JSON text a secret store keeps for a device key. */
export function encodeDeviceKey(key: DeviceKey): string {
  return JSON.stringify({ accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey });
}

export function decodeDeviceKey(text: string, where: string): DeviceKey {
  let value: Partial<DeviceKey> | undefined;
  try {
    value = JSON.parse(text) as Partial<DeviceKey>;
  } catch {
    value = undefined;
  }
  if (typeof value?.accessKeyId !== 'string' || typeof value.secretAccessKey !== 'string') {
    throw new BackupctlError(ErrorCodes.deviceKeyMissing, `the device key in ${where} is not valid`, {
      source: 'environment',
      resolution:
        'It must be JSON {"accessKeyId": …, "secretAccessKey": …}. Store a fresh key with `backupctl recover` (admin credentials).',
    });
  }
  return { accessKeyId: value.accessKeyId, secretAccessKey: value.secretAccessKey };
}

export interface ResolveDeviceKeyOptions {
  env: Environment;
  config: Pick<DeviceConfig, 'device' | 'repository'>;
  /** The keychain (or the store a test gives). */
  keychain?: SecretStore;
}

/**
 * The key every device S3 call signs with — never the SDK's default chain, which may hold
 * the owner's admin credentials. From the first source that has it:
 * BACKUPCTL_AWS_ACCESS_KEY_ID/BACKUPCTL_AWS_SECRET_ACCESS_KEY (CI), the systemd
 * credential `backupctl-aws-access-key`, the keychain entry of the device.
 */
export async function resolveDeviceKey(options: ResolveDeviceKeyOptions): Promise<DeviceKey> {
  const { env, config } = options;
  if (env.deviceKey) return env.deviceKey;
  const device = config.device;
  if (device !== undefined) {
    const account = deviceKeyAccount(device);
    if (env.credentialsDirectory) {
      const systemd = new SystemdCredentialStore(env.credentialsDirectory, (a) =>
        a === account ? SYSTEMD_DEVICE_KEY_CREDENTIAL : undefined,
      );
      const text = await systemd.get(account);
      if (text) return decodeDeviceKey(text, `the systemd credential ${SYSTEMD_DEVICE_KEY_CREDENTIAL}`);
    }
    if (options.keychain) {
      const text = await options.keychain.get(account);
      if (text) return decodeDeviceKey(text, `the ${options.keychain.name} entry ${account}`);
    }
  }
  throw new BackupctlError(
    ErrorCodes.deviceKeyMissing,
    `no AWS access key for this device${device ? ` (${device})` : ''} in the secret store`,
    {
      source: 'environment',
      resolution: device
        ? 'Store a new key with `backupctl recover` (admin credentials), or give it as the systemd credential "backupctl-aws-access-key" or BACKUPCTL_AWS_ACCESS_KEY_ID/BACKUPCTL_AWS_SECRET_ACCESS_KEY.'
        : 'Give the key as BACKUPCTL_AWS_ACCESS_KEY_ID/BACKUPCTL_AWS_SECRET_ACCESS_KEY, or set up the device with `backupctl init --bucket NAME`.',
      details: { device },
    },
  );
}
