import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  type IAMClient,
  ListAccessKeysCommand,
} from '@aws-sdk/client-iam';
import {
  BackupctlError,
  type DeviceKey,
  decodeDeviceKey,
  deviceKeyAccount,
  ErrorCodes,
  encodeDeviceKey,
  type SecretStore,
} from '@backupctl/core';
import type { GuardEventSink } from './events.js';

/** The device key the store holds, if any (a broken entry counts as none). */
export async function storedDeviceKey(store: SecretStore, device: string): Promise<DeviceKey | undefined> {
  const text = await store.get(deviceKeyAccount(device));
  if (!text) return undefined;
  try {
    return decodeDeviceKey(text, store.name);
  } catch {
    return undefined;
  }
}

/** Deletes access keys of the user; `keep` is spared. Returns the ids deleted. */
export async function deleteAccessKeys(iam: IAMClient, userName: string, keep?: string): Promise<string[]> {
  const keys = (await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
  const deleted: string[] = [];
  for (const key of keys) {
    if (!key.AccessKeyId || key.AccessKeyId === keep) continue;
    await iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: key.AccessKeyId }));
    deleted.push(key.AccessKeyId);
  }
  return deleted;
}

/**
 * The device's access key: the one in the secret store when IAM still has it (a re-run),
 * else a new one — created with the IAM API (never a stack resource or output) and put
 * straight into the store. Keys of the user that the store does not hold are useless (their
 * secret is gone) and are deleted first: IAM allows two per user.
 */
export async function ensureDeviceKey(options: {
  iam: IAMClient;
  userName: string;
  device: string;
  store: SecretStore;
  onEvent: GuardEventSink;
}): Promise<{ key: DeviceKey; created: boolean }> {
  const { iam, userName, device, store, onEvent } = options;
  onEvent({ type: 'start', step: 'access-key', text: `access key of ${userName}` });
  if (!store.writable) {
    throw new BackupctlError(
      ErrorCodes.secretStoreUnavailable,
      `the ${store.name} secret store is read-only`,
      {
        source: 'environment',
        resolution: 'Run init where the OS keychain is available; the key is never written to a file.',
      },
    );
  }
  const stored = await storedDeviceKey(store, device);
  const keys = (await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
  if (stored && keys.some((k) => k.AccessKeyId === stored.accessKeyId)) {
    onEvent({
      type: 'ok',
      step: 'access-key',
      text: `the ${store.name} holds key ${stored.accessKeyId} of ${userName}`,
    });
    return { key: stored, created: false };
  }
  const stale = await deleteAccessKeys(iam, userName);
  if (stale.length > 0)
    onEvent({
      type: 'done',
      step: 'access-key',
      text: `deleted ${stale.length} key(s) no secret store holds: ${stale.join(', ')}`,
    });
  const out = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  const accessKeyId = out.AccessKey?.AccessKeyId;
  const secretAccessKey = out.AccessKey?.SecretAccessKey;
  if (!accessKeyId || !secretAccessKey) throw new Error('IAM CreateAccessKey returned no key');
  const key = { accessKeyId, secretAccessKey };
  try {
    await store.set(deviceKeyAccount(device), encodeDeviceKey(key));
  } catch (error) {
    // Never leave a key behind that nobody holds.
    await iam
      .send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }))
      .catch(() => undefined);
    throw error;
  }
  onEvent({
    type: 'done',
    step: 'access-key',
    text: `created key ${accessKeyId}, stored in the ${store.name} (${deviceKeyAccount(device)})`,
  });
  return { key, created: true };
}
