import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { ListAccessKeysCommand, ListUsersCommand } from '@aws-sdk/client-iam';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { devicePrefix } from '@backupctl/core';
import type { AdminClients } from '../deploy/admin-clients.js';
import { GUARD_IAM_PATH } from '../guard-pattern.js';
import { asAdminCredentialsError } from '../init/errors.js';
import { hasDenyAll } from '../recover/recover-device.js';
import { guardAlarmName } from '../templates/device-template.js';

export interface GuardDeviceStatus {
  device: string;
  userName: string;
  /** The alarm's state (OK, ALARM, INSUFFICIENT_DATA), or `none` when it is not armed. */
  alarm: string;
  quarantined: boolean;
  /** Age of the newest access key, in days (undefined: no key). */
  keyAgeDays?: number;
  keys: number;
  /** When the newest snapshot of the device was written (from the bucket), if any. */
  lastSnapshot?: string;
}

const USER_PREFIX = 'backupctl-';

/**
 * Every backupctl device of the account (IAM users under `/backupctl/`): its alarm, whether
 * it carries AWSDenyAll, its key's age, and its newest snapshot in the bucket.
 */
export async function guardStatus(options: {
  clients: AdminClients;
  bucket: string;
  profile?: string;
  now?: () => number;
}): Promise<{ bucket: string; devices: GuardDeviceStatus[] }> {
  try {
    return await status(options);
  } catch (error) {
    throw asAdminCredentialsError(error, options.profile);
  }
}

async function status(options: { clients: AdminClients; bucket: string; now?: () => number }) {
  const { iam, cloudWatch, s3 } = options.clients;
  const now = options.now ?? Date.now;
  const users: string[] = [];
  let marker: string | undefined;
  do {
    const out = await iam.send(new ListUsersCommand({ PathPrefix: GUARD_IAM_PATH, Marker: marker }));
    for (const u of out.Users ?? []) if (u.UserName) users.push(u.UserName);
    marker = out.IsTruncated ? out.Marker : undefined;
  } while (marker);
  const alarms = new Map<string, string>();
  let next: string | undefined;
  do {
    const out = await cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: guardAlarmName(''), NextToken: next }),
    );
    for (const a of out.MetricAlarms ?? []) if (a.AlarmName) alarms.set(a.AlarmName, a.StateValue ?? '?');
    next = out.NextToken;
  } while (next);
  const devices: GuardDeviceStatus[] = [];
  for (const userName of users.sort()) {
    const device = userName.startsWith(USER_PREFIX) ? userName.slice(USER_PREFIX.length) : userName;
    const keys = (await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
    const newest = Math.max(0, ...keys.map((k) => k.CreateDate?.getTime() ?? 0));
    let lastSnapshot: string | undefined;
    try {
      const prefix = `${devicePrefix(device)}snapshots/`;
      let token: string | undefined;
      let latest = 0;
      do {
        const out = await s3.send(
          new ListObjectsV2Command({ Bucket: options.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of out.Contents ?? []) latest = Math.max(latest, o.LastModified?.getTime() ?? 0);
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      if (latest > 0) lastSnapshot = new Date(latest).toISOString();
    } catch {
      // A user name that is no valid device name has no prefix to look in.
    }
    devices.push({
      device,
      userName,
      alarm: alarms.get(guardAlarmName(userName)) ?? 'none',
      quarantined: await hasDenyAll(iam, userName),
      ...(keys.length > 0 ? { keyAgeDays: Math.floor((now() - newest) / 86_400_000) } : {}),
      keys: keys.length,
      ...(lastSnapshot ? { lastSnapshot } : {}),
    });
  }
  return { bucket: options.bucket, devices };
}
