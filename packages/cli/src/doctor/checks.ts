import {
  BackupctlError,
  type DeviceConfig,
  type DeviceStatus,
  deviceStatus,
  type Environment,
  errorMessage,
  isS3Repository,
  loadDeviceConfig,
  loadLastRun,
  passwordAccount,
  recoverySteps,
  resolveDeviceKey,
  type SecretStore,
} from '@backupctl/core';
import { formatWhen } from '../render/format.js';
import { overdueWarning, scheduleReport } from '../schedule/report.js';
import type { Exec } from '../schedule/systemd.js';
import type { AdminProbe } from './admin-probe.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it (warn, fail, skip). */
  fix?: string;
}

export interface DoctorDeps {
  env: Environment;
  /** The keychain, or how to make it from the device config (its `secrets.keychain` driver). */
  keychain: SecretStore | ((config: DeviceConfig) => SecretStore);
  /** The owner's AWS account, with admin credentials; undefined: the AWS checks are skipped. */
  admin?: AdminProbe;
  exec?: Exec;
  /** Injected for tests; default: core's deviceStatus. */
  status?: (options: { env: Environment; keychain: SecretStore }) => Promise<DeviceStatus>;
}

export interface DoctorReport {
  findings: Finding[];
  ok: boolean;
  quarantined: boolean;
}

/**
 * The chain a scheduled push depends on, link by link: config, secret store, passphrase,
 * AWS key, repository/bucket, guard stacks and alarm, trail, timer. Each finding says what
 * to fix; the first broken link does not hide the others (except a missing config).
 */
export async function runDoctor(deps: DoctorDeps): Promise<DoctorReport> {
  const { env } = deps;
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  let config: DeviceConfig;
  try {
    config = await loadDeviceConfig(env.configDir);
    add({ check: 'config', status: 'ok', detail: `${env.configDir}/config.json: ${config.repository}` });
  } catch (error) {
    add({
      check: 'config',
      status: 'fail',
      detail: errorMessage(error),
      fix: BackupctlError.is(error) ? error.resolution : undefined,
    });
    return { findings, ok: false, quarantined: false };
  }
  const s3 = isS3Repository(config.repository);
  const keychain = typeof deps.keychain === 'function' ? deps.keychain(config) : deps.keychain;

  // The secret store, and what it holds.
  let storeOk = false;
  try {
    await keychain.get('backupctl-doctor-probe');
    storeOk = true;
    add({ check: 'secret store', status: 'ok', detail: `${keychain.name} reachable` });
  } catch (error) {
    const needed = config.passwordSource === 'keychain';
    add({
      check: 'secret store',
      status: needed && !env.password && !env.credentialsDirectory ? 'fail' : 'warn',
      detail: `${keychain.name}: ${errorMessage(error)}`,
      fix: BackupctlError.is(error) ? error.resolution : undefined,
    });
  }
  if (env.password) {
    add({ check: 'passphrase', status: 'ok', detail: 'from BACKUPCTL_PASSWORD' });
  } else if (config.passwordSource === 'keychain' && storeOk) {
    const present = await keychain.get(passwordAccount(config.repository)).catch(() => undefined);
    add(
      present
        ? { check: 'passphrase', status: 'ok', detail: 'in the keychain' }
        : {
            check: 'passphrase',
            status: 'fail',
            detail: 'not in the keychain',
            fix: `Run \`backupctl init --repo ${config.repository}\` again in a terminal: it stores the passphrase (the repository is kept).`,
          },
    );
  } else if (env.credentialsDirectory) {
    add({
      check: 'passphrase',
      status: 'ok',
      detail: 'from the systemd credential (checked by opening the repository)',
    });
  } else if (config.passwordSource === 'environment') {
    add({
      check: 'passphrase',
      status: 'warn',
      detail: 'the config says the environment supplies it, and BACKUPCTL_PASSWORD is not set here',
      fix: 'Timers need `backupctl schedule install --system --credentials systemd` or BACKUPCTL_PASSWORD in the service.',
    });
  }
  if (s3) {
    try {
      await resolveDeviceKey({ env, config, keychain });
      add({
        check: 'AWS key',
        status: 'ok',
        detail: `the device key${config.device ? ` of ${config.device}` : ''} is there`,
      });
    } catch (error) {
      add({
        check: 'AWS key',
        status: 'fail',
        detail: errorMessage(error),
        fix: BackupctlError.is(error) ? error.resolution : undefined,
      });
    }
  }

  // The repository (the bucket): one allowed request, as `status` makes it.
  const status = await (deps.status ?? deviceStatus)({ env, keychain });
  const quarantined = status.health.state === 'quarantined';
  if (quarantined) {
    add({
      check: s3 ? 'bucket' : 'repository',
      status: 'fail',
      detail: `QUARANTINED since ${formatWhen(status.health.time)}: the guard disabled this device's key; no AWS request was made`,
      fix: recoverySteps({ policy: status.health.policy }),
    });
  } else if (status.repository.reachable) {
    add({
      check: s3 ? 'bucket' : 'repository',
      status: 'ok',
      detail: `${config.repository}: ${status.repository.snapshots} snapshot(s)`,
    });
  } else {
    add({
      check: s3 ? 'bucket' : 'repository',
      status: 'fail',
      detail: status.repository.error?.message ?? 'could not be opened',
      fix:
        status.health.message && status.health.state !== 'unknown'
          ? status.health.message
          : 'See `backupctl status`.',
    });
  }

  // The guard and its trail (the owner's account: admin credentials only).
  if (s3 && config.device) {
    if (!deps.admin) {
      for (const check of ['guard', 'trail'])
        add({
          check,
          status: 'skip',
          detail: "needs the owner's admin credentials (never the device key)",
          fix: 'Run `backupctl doctor --admin-profile PROFILE` with your admin profile.',
        });
    } else {
      try {
        // Loaded only with admin credentials: a plain `doctor` loads no AWS SDK (cold start).
        const { checkGuard } = await import('./admin-probe.js');
        const guard = await checkGuard(deps.admin, config.device);
        if (guard.armed) {
          add({
            check: 'guard',
            status: 'ok',
            detail: `armed: stacks ${guard.guardStack.name} and ${guard.deviceStack.name} complete, alarm ${guard.alarm.name} enabled${guard.alarm.state ? ` (${guard.alarm.state})` : ''}`,
          });
        } else {
          const missing = [
            !guard.guardStack.ok &&
              `${guard.guardStack.name} ${guard.guardStack.present ? guard.guardStack.status : 'missing'}`,
            !guard.deviceStack.ok &&
              `${guard.deviceStack.name} ${guard.deviceStack.present ? guard.deviceStack.status : 'missing'}`,
            !guard.alarm.present
              ? `alarm ${guard.alarm.name} missing`
              : !guard.alarm.actionsEnabled && `alarm ${guard.alarm.name} has its actions disabled`,
          ].filter(Boolean);
          add({
            check: 'guard',
            status: 'fail',
            detail: `not armed: ${missing.join('; ')}`,
            fix: 'Deploy the guard and device stacks again (`backupctl guard template` prints them; see docs/guard-pattern.md).',
          });
        }
        add(
          guard.trail.logging
            ? { check: 'trail', status: 'ok', detail: `${guard.trail.name} is logging to CloudWatch Logs` }
            : {
                check: 'trail',
                status: 'fail',
                detail: 'the guard sees nothing: no usable trail',
                fix: guard.trail.remedy,
              },
        );
      } catch (error) {
        add({
          check: 'guard',
          status: 'fail',
          detail: `could not ask AWS: ${errorMessage(error)}`,
          fix: BackupctlError.is(error)
            ? error.resolution
            : 'Check the admin profile (`aws sts get-caller-identity --profile …` on your admin machine).',
        });
      }
    }
  }

  // The timer.
  const schedule = await scheduleReport(env, await loadLastRun(env.cacheDir), Date.now(), deps.exec);
  if (!schedule.installed) {
    add({
      check: 'timer',
      status: 'warn',
      detail: 'no schedule installed',
      fix: 'Run `backupctl schedule install`.',
    });
  } else if (schedule.timerError) {
    add({
      check: 'timer',
      status: 'fail',
      detail: schedule.timerError.message,
      fix: 'See `backupctl schedule status`.',
    });
  } else if (schedule.timer && (!schedule.timer.loaded || schedule.timer.enabled !== 'enabled')) {
    add({
      check: 'timer',
      status: 'fail',
      detail: `backupctl-push.timer is ${schedule.timer.loaded ? schedule.timer.enabled : 'not loaded'}`,
      fix: 'Run `backupctl schedule install` again.',
    });
  } else {
    const overdue = overdueWarning(schedule);
    add(
      overdue
        ? {
            check: 'timer',
            status: 'warn',
            detail: overdue,
            fix: 'See `backupctl schedule status` and the journal.',
          }
        : { check: 'timer', status: 'ok', detail: `enabled (OnCalendar=${schedule.onCalendar})` },
    );
  }
  return { findings, ok: findings.every((f) => f.status !== 'fail'), quarantined };
}
