import path from 'node:path';
import {
  BackupctlError,
  ErrorCodes,
  SYSTEMD_DEVICE_KEY_CREDENTIAL,
  SYSTEMD_PASSWORD_CREDENTIAL,
} from '@backupctl/core';

/** The unit names `schedule install` writes; `status`, `doctor` and `remove` look for them. */
export const SERVICE_UNIT = 'backupctl-push.service';
export const TIMER_UNIT = 'backupctl-push.timer';
export const NOTIFY_UNIT = 'backupctl-notify@.service';

export type ScheduleScope = 'user' | 'system';
export type CredentialSource = 'keychain' | 'systemd';

export interface Schedule {
  /** systemd OnCalendar= expression. */
  onCalendar: string;
  /** Seconds between two runs, when the schedule is regular (for "overdue" warnings). */
  intervalSeconds?: number;
}

export interface UnitOptions {
  schedule: Schedule;
  scope: ScheduleScope;
  credentials: CredentialSource;
  /** Absolute path of the node binary that runs backupctl. */
  node: string;
  /** Absolute path of backupctl's bin/run.js. */
  script: string;
  /** The device's config and cache folders (absolute). */
  configDir: string;
  cacheDir: string;
  /** The user's home: paths under it are written as %h in user units. */
  home: string;
  /** system scope: the account the service runs as. */
  user?: string;
  /** --credentials systemd: the folder of the encrypted credential files. */
  credentialDir?: string;
  /** Set when the config or cache folder is not the default one (so the service finds them). */
  environment?: Record<string, string>;
}

export interface Unit {
  name: string;
  content: string;
}

/** Where `--credentials systemd` puts the encrypted files, by scope. */
export function defaultCredentialDir(scope: ScheduleScope, configDir: string): string {
  return scope === 'system' ? '/etc/backupctl/credentials' : path.join(configDir, 'credentials');
}

export function credentialFile(dir: string, name: string): string {
  return path.join(dir, `${name}.cred`);
}

const DURATION = /^(\d+)\s*(m|min|h|d|w)$/;

/**
 * `--every 15m | 1h | 6h | 1d | 1w` as an OnCalendar= expression aligned to the wall clock
 * (so `Persistent=true` can catch up a run missed while the machine was off).
 */
export function scheduleFromEvery(every: string): Schedule {
  const match = DURATION.exec(every.trim());
  const fail = () =>
    new BackupctlError(
      ErrorCodes.usage,
      `--every ${every}: not a schedule backupctl can align to the clock`,
      {
        resolution:
          'Use minutes that divide an hour (15m, 30m), hours that divide a day (1h, 2h, 6h, 12h), 1d or 1w — or --on-calendar with any systemd calendar expression.',
      },
    );
  if (!match) throw fail();
  const n = Number(match[1]);
  const unit = match[2];
  if (unit === 'm' || unit === 'min') {
    if (n === 60) return { onCalendar: 'hourly', intervalSeconds: 3600 };
    if (n < 1 || 60 % n !== 0) throw fail();
    return { onCalendar: `*:0/${n}`, intervalSeconds: n * 60 };
  }
  if (unit === 'h') {
    if (n === 1) return { onCalendar: 'hourly', intervalSeconds: 3600 };
    if (n === 24) return { onCalendar: 'daily', intervalSeconds: 86_400 };
    if (n < 1 || 24 % n !== 0) throw fail();
    return { onCalendar: `0/${n}:00`, intervalSeconds: n * 3600 };
  }
  if (unit === 'd' && n === 1) return { onCalendar: 'daily', intervalSeconds: 86_400 };
  if (unit === 'w' && n === 1) return { onCalendar: 'weekly', intervalSeconds: 604_800 };
  throw fail();
}

/** A quarter of the interval, at most 15 minutes: spreads a fleet, keeps the rhythm. */
function randomizedDelay(schedule: Schedule): string {
  const seconds = Math.min(900, Math.floor((schedule.intervalSeconds ?? 3600) / 4));
  return seconds % 60 === 0 ? `${seconds / 60}min` : `${seconds}s`;
}

function describeSchedule(schedule: Schedule): string {
  const every: Record<string, string> = {
    hourly: 'every hour',
    daily: 'every day',
    weekly: 'every week',
  };
  return every[schedule.onCalendar] ?? `on ${schedule.onCalendar}`;
}

/** A path as written in a unit: %h/… for paths under the home of a user unit. */
function unitPath(options: UnitOptions, p: string): string {
  if (options.scope === 'user') {
    const rel = path.relative(options.home, p);
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel))
      return `%h/${rel.split(path.sep).join('/')}`;
  }
  return p;
}

/** systemd's quoting for one word of ExecStart= (and `%` escaped). */
function execWord(word: string): string {
  const escaped = word.replaceAll('%', '%%');
  return /[\s"'\\$;]/.test(escaped) ? `"${escaped.replace(/(["\\$])/g, '\\$1')}"` : escaped;
}

export function renderUnits(options: UnitOptions): Unit[] {
  return [
    { name: SERVICE_UNIT, content: renderService(options) },
    { name: TIMER_UNIT, content: renderTimer(options) },
    { name: NOTIFY_UNIT, content: renderNotify(options) },
  ];
}

export function renderService(o: UnitOptions): string {
  const user = o.scope === 'user';
  const manage = user ? 'systemctl --user' : 'systemctl';
  const journal = user ? 'journalctl --user' : 'journalctl';
  const credDir = o.credentialDir ?? defaultCredentialDir(o.scope, o.configDir);
  const lines: string[] = [
    '# Generated by `backupctl schedule install`; `backupctl schedule remove` removes it.',
    `# Runs \`backupctl push\` once, started by ${TIMER_UNIT}. See its runs with`,
    `#   ${manage} status ${SERVICE_UNIT}    ${journal} -u ${SERVICE_UNIT}`,
    '',
    '[Unit]',
    'Description=backupctl: back up this device',
    'Documentation=https://github.com/backupctl/backupctl/blob/main/docs/scheduling.md',
  ];
  if (user) {
    lines.push(
      '# A user manager cannot wait for network-online.target (a system unit). An offline run',
      '# exits 23 and the next one retries; the notify unit says so mildly.',
    );
  } else {
    lines.push('Wants=network-online.target', 'After=network-online.target');
  }
  lines.push(
    '# Any failure — above all exit 20 (quarantined) — starts the notify unit. Never list 20',
    '# in SuccessExitStatus=: a quarantined device must be loud.',
    'OnFailure=backupctl-notify@%n.service',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${execWord(o.node)} ${execWord(o.script)} push`,
  );
  if (!user && o.user) lines.push(`User=${o.user}`);
  for (const [key, value] of Object.entries(o.environment ?? {})) {
    lines.push(`Environment=${execWord(`${key}=${value}`)}`);
  }
  lines.push(
    '# Exit codes (docs/exit-codes.md): 0 done; 3 snapshot written but some files could not be',
    '# read; 10 not set up; 11 another push is running; 12 passphrase wrong or missing;',
    "# 20 QUARANTINED: the guard disabled this device's key (run `backupctl status`);",
    '# 21 denied (policy or bucket setup wrong); 22 key invalid/deleted, wrong secret or clock',
    '# skew; 23 offline (retried at the next run); 24 bucket missing. Every non-zero code is a',
    '# failure here, so OnFailure= fires.',
    '',
    '# Stay out of the way: lowest CPU priority, disk I/O only when the disk is idle.',
    'Nice=19',
    'CPUSchedulingPolicy=idle',
    'IOSchedulingClass=idle',
    '# A big first push may take hours; the timer does not start a run while one is active.',
    'TimeoutStartSec=12h',
    '# SIGINT lets push stop cleanly (exit 130); what it uploaded is reused by the next run.',
    'KillSignal=SIGINT',
    '',
    '# A backup reads everything and writes only its own state.',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    `ReadWritePaths=-${unitPath(o, o.cacheDir)} -${unitPath(o, o.configDir)}`,
    'PrivateTmp=true',
    'NoNewPrivileges=true',
    'ProtectKernelTunables=true',
    'ProtectKernelModules=true',
    'ProtectKernelLogs=true',
    'ProtectControlGroups=true',
    'ProtectClock=true',
    'ProtectHostname=true',
    'RestrictNamespaces=true',
    'RestrictRealtime=true',
    'RestrictSUIDSGID=true',
    'LockPersonality=true',
    'SystemCallArchitectures=native',
    '# AF_UNIX: the session bus of the keychain; AF_INET/6: the storage.',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'UMask=0077',
    '# (No MemoryDenyWriteExecute=: node compiles JavaScript to machine code at run time.)',
  );
  if (o.credentials === 'systemd') {
    lines.push(
      '',
      "# Secrets, encrypted by `systemd-creds encrypt` with this host's key; systemd decrypts",
      '# them into $CREDENTIALS_DIRECTORY for this run only, where backupctl reads them.',
      `LoadCredentialEncrypted=${SYSTEMD_PASSWORD_CREDENTIAL}:${credentialFile(credDir, SYSTEMD_PASSWORD_CREDENTIAL)}`,
      `LoadCredentialEncrypted=${SYSTEMD_DEVICE_KEY_CREDENTIAL}:${credentialFile(credDir, SYSTEMD_DEVICE_KEY_CREDENTIAL)}`,
    );
  } else {
    lines.push(
      '',
      '# The passphrase (and AWS key) come from the keychain of your login session. For a',
      '# headless machine: backupctl schedule install --system --credentials systemd',
    );
  }
  return `${lines.join('\n')}\n`;
}

export function renderTimer(o: UnitOptions): string {
  const manage = o.scope === 'user' ? 'systemctl --user' : 'systemctl';
  return `${[
    '# Generated by `backupctl schedule install`. Next and last run: backupctl schedule status',
    `#   (or ${manage} list-timers ${TIMER_UNIT})`,
    '',
    '[Unit]',
    `Description=backupctl: back up this device ${describeSchedule(o.schedule)}`,
    'Documentation=https://github.com/backupctl/backupctl/blob/main/docs/scheduling.md',
    '',
    '[Timer]',
    `OnCalendar=${o.schedule.onCalendar}`,
    '# A run missed while the machine was off or asleep happens soon after it wakes up.',
    'Persistent=true',
    '# Spread the start, so a fleet of devices does not hit S3 at the same second; the same',
    '# offset every time on one machine, so the runs stay evenly spaced.',
    `RandomizedDelaySec=${randomizedDelay(o.schedule)}`,
    'FixedRandomDelay=true',
    'AccuracySec=1min',
    `Unit=${SERVICE_UNIT}`,
    '',
    '[Install]',
    'WantedBy=timers.target',
  ].join('\n')}\n`;
}

export function renderNotify(o: UnitOptions): string {
  const journal = o.scope === 'user' ? 'journalctl --user' : 'journalctl';
  return `${[
    '# Generated by `backupctl schedule install`. Tells the owner that a backupctl unit failed,',
    '# by a desktop notification and a journal line (priority crit for exit 20, else warning:',
    '# `journalctl -p warning` finds them). Started by',
    `# OnFailure=backupctl-notify@%n.service in ${SERVICE_UNIT}; %i is the failed unit.`,
    "# systemd (>= 251) passes the failed unit's result in MONITOR_* variables. Swap",
    '# notify-send for mail, ntfy or a webhook on a machine without a desktop.',
    '',
    '[Unit]',
    'Description=backupctl: tell the owner that %i failed',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=/bin/sh -c 'code="$\${MONITOR_EXIT_STATUS:-unknown}"; \\`,
    '  case "$$code" in \\',
    '    20) msg="QUARANTINED: the guard disabled the AWS key of this device after a denied or GetCallerIdentity call. If you did not make it, the key is probably stolen. Run: backupctl status" ;; \\',
    `    3) msg="Backup finished, but some files could not be read. Run: ${journal} -u %i" ;; \\`,
    '    23) msg="Backup skipped: the storage could not be reached (offline?). It will retry at the next run." ;; \\',
    '    *) msg="Backup failed (exit $$code). Run: backupctl status" ;; \\',
    '  esac; \\',
    '  if [ "$$code" = 20 ]; then urgency=critical; prio=2; else urgency=normal; prio=4; fi; \\',
    '  echo "<$$prio>backupctl: %i: $$msg" >&2; \\',
    `  notify-send --app-name=backupctl --urgency="$$urgency" "backupctl" "$$msg" || true'`,
  ].join('\n')}\n`;
}

/**
 * The inputs of the units in examples/systemd/ (a test keeps the files equal to what
 * `schedule install` generates from them): a user `you` with backupctl installed by
 * `npm install -g` under /usr/local and node at /usr/bin/node.
 */
export function exampleUnitOptions(scope: ScheduleScope): UnitOptions {
  const home = '/home/you';
  return {
    schedule: { onCalendar: 'hourly', intervalSeconds: 3600 },
    scope,
    credentials: scope === 'system' ? 'systemd' : 'keychain',
    node: '/usr/bin/node',
    script: '/usr/local/lib/node_modules/backupctl/bin/run.js',
    configDir: `${home}/.config/backupctl`,
    cacheDir: `${home}/.cache/backupctl`,
    home,
    ...(scope === 'system'
      ? {
          user: 'you',
          environment: {
            BACKUPCTL_CONFIG_DIR: `${home}/.config/backupctl`,
            BACKUPCTL_CACHE_DIR: `${home}/.cache/backupctl`,
          },
        }
      : {}),
    credentialDir: defaultCredentialDir(scope, `${home}/.config/backupctl`),
  };
}
