import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DetachUserPolicyCommand, ListUsersCommand } from '@aws-sdk/client-iam';
import { DeleteObjectsCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import {
  CONFIG_FILE,
  type DeviceConfig,
  deviceKeyAccount,
  devicePrefix,
  type Environment,
  passwordAccount,
  type SecretStore,
} from '@backupctl/core';
import type { AdminClients } from '../deploy/admin-clients.js';
import { deleteStack } from '../deploy/deploy-stack.js';
import { awsErrorName, StackError } from '../deploy/stack-error.js';
import { GUARD_IAM_PATH } from '../guard-pattern.js';
import { deleteAccessKeys } from '../init/device-key.js';
import { asAdminCredentialsError, NotConfirmedError } from '../init/errors.js';
import type { GuardEventSink } from '../init/events.js';
import { DENY_ALL_POLICY_ARN, guardOf } from '../recover/recover-device.js';
import { deviceUserName } from '../templates/device-stack.js';
import { deviceStackName } from '../templates/device-template.js';

export interface DestroyDeviceOptions {
  env: Environment;
  /** This device's config (account, region, bucket, guard stack). */
  config: DeviceConfig;
  clients: AdminClients;
  store: SecretStore;
  /** The device to remove (default: this one). */
  device?: string;
  /** Also delete the guard stack — only when no device is left. */
  guard?: boolean;
  /** Also delete every object version under `devices/<device>/`, once confirmed. */
  deleteBackups?: boolean;
  /** Asked before deleting backups (the CLI wants the device name typed). */
  confirmDeleteBackups?: (device: string, prefix: string) => Promise<boolean>;
  profile?: string;
  onEvent?: GuardEventSink;
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface DestroyDeviceResult {
  device: string;
  deletedKeys: string[];
  stack: 'deleted' | 'absent';
  backups: 'kept' | { deletedObjects: number };
  guardStack: 'kept' | 'deleted' | 'absent';
  localConfigRemoved: boolean;
}

/**
 * `backupctl destroy`: the device's keys (IAM and keychain), its stack (user, policy, alarm)
 * and, for this device, its local config. Backups stay unless `deleteBackups` is confirmed.
 * The guard stack goes only with `guard` and when no backupctl device user is left.
 */
export async function destroyDevice(options: DestroyDeviceOptions): Promise<DestroyDeviceResult> {
  try {
    return await destroy(options);
  } catch (error) {
    throw asAdminCredentialsError(error, options.profile);
  }
}

async function destroy(options: DestroyDeviceOptions): Promise<DestroyDeviceResult> {
  const onEvent: GuardEventSink = options.onEvent ?? (() => undefined);
  const guard = guardOf(options.config);
  const device = options.device ?? guard.device;
  const self = device === guard.device;
  const userName = deviceUserName(device);
  const stackName = deviceStackName(userName);
  const { iam, cloudFormation, s3 } = options.clients;
  const prefix = devicePrefix(device);
  const poll = {
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  };

  // The guard stays while another device needs it: checked before anything is removed.
  if (options.guard) {
    const users = (await iam.send(new ListUsersCommand({ PathPrefix: GUARD_IAM_PATH }))).Users ?? [];
    const left = users.map((u) => u.UserName).filter((u) => u !== undefined && u !== userName);
    if (left.length > 0) {
      throw new StackError(
        'GUARD_IN_USE',
        `the guard still watches ${left.length} device(s): ${left.join(', ')}`,
        {
          source: 'user',
          resolution:
            'Destroy those devices first (`backupctl destroy --device NAME`), then run it again with --guard.',
        },
      );
    }
  }

  // Asked first, before anything is removed.
  if (options.deleteBackups) {
    const yes = (await options.confirmDeleteBackups?.(device, `s3://${guard.bucket}/${prefix}`)) ?? false;
    if (!yes) throw new NotConfirmedError(`delete the backups of ${device}`);
  }

  onEvent({ type: 'start', step: 'delete-keys', text: `access keys of ${userName}` });
  let deletedKeys: string[] = [];
  try {
    deletedKeys = await deleteAccessKeys(iam, userName);
    // A user with a policy attached outside its stack cannot be deleted by it.
    await iam
      .send(new DetachUserPolicyCommand({ UserName: userName, PolicyArn: DENY_ALL_POLICY_ARN }))
      .catch((e) => {
        if (!/NoSuchEntity/.test(awsErrorName(e) ?? '')) throw e;
      });
  } catch (error) {
    if (!/NoSuchEntity/.test(awsErrorName(error) ?? '')) throw error;
  }
  onEvent({
    type: deletedKeys.length ? 'done' : 'ok',
    step: 'delete-keys',
    text: deletedKeys.length ? `deleted ${deletedKeys.join(', ')}` : 'no key left',
  });

  onEvent({ type: 'start', step: 'device-stack', text: `delete ${stackName}` });
  const stack = await deleteStack({
    cloudFormation,
    stackName,
    onProgress: (progress) => onEvent({ type: 'deploy', step: 'device-stack', progress }),
    ...poll,
  });
  onEvent({
    type: stack.status === 'deleted' ? 'done' : 'ok',
    step: 'device-stack',
    text: stack.status === 'deleted' ? `${stackName} deleted` : `${stackName} was not there`,
  });

  let backups: DestroyDeviceResult['backups'] = 'kept';
  if (options.deleteBackups) {
    onEvent({
      type: 'start',
      step: 'backups',
      text: `delete every version under s3://${guard.bucket}/${prefix}`,
    });
    let deleted = 0;
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const out = await s3.send(
        new ListObjectVersionsCommand({
          Bucket: guard.bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
      );
      const objects = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])]
        .filter((v) => v.Key?.startsWith(prefix))
        .map((v) => ({ Key: v.Key!, VersionId: v.VersionId }));
      if (objects.length > 0) {
        await s3.send(
          new DeleteObjectsCommand({ Bucket: guard.bucket, Delete: { Objects: objects, Quiet: true } }),
        );
        deleted += objects.length;
      }
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker !== undefined);
    backups = { deletedObjects: deleted };
    onEvent({ type: 'done', step: 'backups', text: `deleted ${deleted} object version(s)` });
  } else {
    onEvent({ type: 'info', step: 'backups', text: `backups kept at s3://${guard.bucket}/${prefix}` });
  }

  let guardStack: DestroyDeviceResult['guardStack'] = 'kept';
  if (options.guard) {
    onEvent({ type: 'start', step: 'guard-stack', text: `delete ${guard.guardStack}` });
    guardStack = (
      await deleteStack({
        cloudFormation,
        stackName: guard.guardStack,
        onProgress: (progress) => onEvent({ type: 'deploy', step: 'guard-stack', progress }),
        ...poll,
      })
    ).status;
    onEvent({ type: 'done', step: 'guard-stack', text: `${guard.guardStack} ${guardStack}` });
  }

  let localConfigRemoved = false;
  if (self) {
    onEvent({ type: 'start', step: 'config', text: 'local key, passphrase entry and config' });
    await options.store.delete(deviceKeyAccount(device)).catch(() => false);
    await options.store.delete(passwordAccount(options.config.repository)).catch(() => false);
    await rm(path.join(options.env.configDir, CONFIG_FILE), { force: true });
    localConfigRemoved = true;
    onEvent({ type: 'done', step: 'config', text: 'this device is no longer set up' });
  }
  return { device, deletedKeys, stack: stack.status, backups, guardStack, localConfigRemoved };
}
