import { ListAttachedUserPoliciesCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  type DeviceConfig,
  type DeviceKey,
  type Environment,
  resolveDeviceKey,
  type SecretStore,
} from '@backupctl/core';
import type { AdminClients } from '../deploy/admin-clients.js';
import { StackError } from '../deploy/stack-error.js';
import { asAdminCredentialsError, GuardErrorCodes } from '../init/errors.js';
import { defaultSleep, type GuardEventSink } from '../init/events.js';
import { DENY_ALL_POLICY_ARN, guardOf } from '../recover/recover-device.js';

/** The tripwire call, with the device key: the only STS call backupctl ever makes, on purpose. */
export type TripwireCall = (key: DeviceKey, region: string) => Promise<void>;

export const stsTripwire: TripwireCall = async (key, region) => {
  const sts = new STSClient({ region, credentials: key });
  await sts.send(new GetCallerIdentityCommand({}));
};

export interface GuardDrillResult {
  userName: string;
  /** From the tripwire call to AWSDenyAll on the user. */
  quarantinedAfterMs: number;
}

/**
 * `backupctl guard drill`: makes one GetCallerIdentity with the device key — the guard's
 * tripwire — then polls (admin credentials) until the user carries AWSDenyAll, and reports
 * how long it took. The caller then runs recover.
 */
export async function guardDrill(options: {
  env: Environment;
  config: DeviceConfig;
  clients: AdminClients;
  store: SecretStore;
  profile?: string;
  onEvent?: GuardEventSink;
  tripwire?: TripwireCall;
  pollMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}): Promise<GuardDrillResult> {
  const onEvent: GuardEventSink = options.onEvent ?? (() => undefined);
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const guard = guardOf(options.config);
  const key = await resolveDeviceKey({ env: options.env, config: options.config, keychain: options.store });
  onEvent({
    type: 'start',
    step: 'drill',
    text: `one sts:GetCallerIdentity with the key of ${guard.userName} (the tripwire)`,
  });
  const start = now();
  await (options.tripwire ?? stsTripwire)(key, guard.region);
  try {
    const timeout = options.timeoutMs ?? 30 * 60_000;
    for (;;) {
      const attached =
        (await options.clients.iam.send(new ListAttachedUserPoliciesCommand({ UserName: guard.userName })))
          .AttachedPolicies ?? [];
      if (attached.some((p) => p.PolicyArn === DENY_ALL_POLICY_ARN)) {
        const quarantinedAfterMs = now() - start;
        onEvent({
          type: 'done',
          step: 'drill',
          text: `quarantined after ${Math.round(quarantinedAfterMs / 1000)} s`,
        });
        return { userName: guard.userName, quarantinedAfterMs };
      }
      if (now() - start > timeout) {
        throw new StackError(
          GuardErrorCodes.armingFailed,
          `${guard.userName} was not quarantined within ${Math.round(timeout / 60_000)} minutes of the tripwire`,
          {
            resolution: `The guard did not act: check the trail's delivery to ${guard.trailLogGroup}, the metric filter and the alarm ${guard.alarmName} (backupctl guard status).`,
          },
        );
      }
      onEvent({
        type: 'wait',
        step: 'drill',
        text: `not quarantined yet (${Math.round((now() - start) / 1000)} s); CloudTrail delivers in about 5 minutes`,
      });
      await sleep(options.pollMs ?? 15_000);
    }
  } catch (error) {
    throw asAdminCredentialsError(error, options.profile);
  }
}
