import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '@backupctl/core';
import type { CredentialSource, ScheduleScope } from './units.js';
import { SERVICE_UNIT, TIMER_UNIT } from './units.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a program without a shell; never throws for a non-zero exit (ENOENT: code 127). */
export type Exec = (file: string, args: string[], input?: string) => Promise<ExecResult>;

export const exec: Exec = (file, args, input) =>
  new Promise((resolve) => {
    const child = execFile(file, args, { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      const code =
        error === null
          ? 0
          : (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? 127
            : typeof (error as { code?: unknown }).code === 'number'
              ? ((error as { code: number }).code as number)
              : 1;
      resolve({
        stdout: String(stdout),
        stderr: String(stderr || (code === 127 ? `${file}: not found` : '')),
        code,
      });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });

/** Where units of each scope live. */
export function unitDirectory(scope: ScheduleScope, env: NodeJS.ProcessEnv = process.env): string {
  if (scope === 'system') return '/etc/systemd/system';
  return path.join(env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'systemd', 'user');
}

export function systemctlArgs(scope: ScheduleScope, args: string[]): string[] {
  return scope === 'user' ? ['--user', ...args] : args;
}

/** What `schedule install` recorded, so `status` knows the schedule without asking systemd. */
export interface InstalledSchedule {
  scope: ScheduleScope;
  onCalendar: string;
  intervalSeconds?: number;
  credentials: CredentialSource;
  unitDirectory: string;
  units: string[];
  credentialFiles?: string[];
  installed: string;
}

const SCHEDULE_FILE = 'schedule.json';

export async function loadSchedule(configDir: string): Promise<InstalledSchedule | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(configDir, SCHEDULE_FILE), 'utf8')) as InstalledSchedule;
  } catch {
    return undefined;
  }
}

export async function saveSchedule(configDir: string, schedule: InstalledSchedule): Promise<void> {
  await fs.mkdir(configDir, { recursive: true });
  await fs.writeFile(path.join(configDir, SCHEDULE_FILE), `${JSON.stringify(schedule, null, 2)}\n`);
}

export async function deleteSchedule(configDir: string): Promise<void> {
  await fs.rm(path.join(configDir, SCHEDULE_FILE), { force: true });
}

/** systemd is not there to talk to (no systemctl, no running manager). */
export function schedulerUnavailable(what: string, result: ExecResult, scope: ScheduleScope): BackupctlError {
  const said = (result.stderr || result.stdout).trim().split('\n')[0] ?? '';
  return new BackupctlError(ErrorCodes.schedulerUnavailable, `${what}: ${said || `exit ${result.code}`}`, {
    source: 'environment',
    resolution:
      scope === 'user'
        ? 'Run this in your login session (a systemd user manager must be running: `systemctl --user status`), or preview the units with `backupctl schedule install --dry-run`.'
        : 'Run it as root on a machine booted with systemd (`sudo backupctl schedule install --system …`), or preview the units with `--dry-run`.',
  });
}

export interface TimerState {
  /** The units are known to systemd. */
  loaded: boolean;
  /** enabled / disabled / … (UnitFileState). */
  enabled: string;
  /** active / inactive / failed (ActiveState). */
  active: string;
  next?: string;
  lastTrigger?: string;
  lastRun?: {
    /** success, exit-code, timeout, signal, … (the service's Result). */
    result: string;
    exitCode?: number;
    started?: string;
    finished?: string;
    running: boolean;
  };
}

/** `systemctl show --timestamp=unix` output: `Key=value` lines. */
export function parseShow(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  return out;
}

/** A systemd timestamp (`@1764597600` with --timestamp=unix, or `Tue 2026-12-01 14:00:00 UTC`). */
export function parseTimestamp(value: string | undefined): string | undefined {
  if (!value || value === 'n/a' || value === '0') return undefined;
  const unix = /^@(\d+)$/.exec(value);
  if (unix) return new Date(Number(unix[1]) * 1000).toISOString();
  const human = /^\w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?: (UTC))?/.exec(value);
  if (human) {
    const t = Date.parse(`${human[1]?.replace(' ', 'T')}${human[2] ? 'Z' : ''}`);
    return Number.isNaN(t) ? undefined : new Date(t).toISOString();
  }
  return undefined;
}

export async function timerState(scope: ScheduleScope, run: Exec = exec): Promise<TimerState> {
  const timer = await run(
    'systemctl',
    systemctlArgs(scope, [
      'show',
      '--timestamp=unix',
      '-p',
      'LoadState,UnitFileState,ActiveState,NextElapseUSecRealtime,LastTriggerUSec',
      TIMER_UNIT,
    ]),
  );
  if (timer.code !== 0) throw schedulerUnavailable('cannot ask systemd about the timer', timer, scope);
  const t = parseShow(timer.stdout);
  const state: TimerState = {
    loaded: t.LoadState === 'loaded',
    enabled: t.UnitFileState || 'unknown',
    active: t.ActiveState || 'unknown',
    ...(parseTimestamp(t.NextElapseUSecRealtime) ? { next: parseTimestamp(t.NextElapseUSecRealtime) } : {}),
    ...(parseTimestamp(t.LastTriggerUSec) ? { lastTrigger: parseTimestamp(t.LastTriggerUSec) } : {}),
  };
  const service = await run(
    'systemctl',
    systemctlArgs(scope, [
      'show',
      '--timestamp=unix',
      '-p',
      'Result,ExecMainStatus,ExecMainStartTimestamp,ExecMainExitTimestamp,ActiveState',
      SERVICE_UNIT,
    ]),
  );
  if (service.code === 0) {
    const s = parseShow(service.stdout);
    const started = parseTimestamp(s.ExecMainStartTimestamp);
    if (started) {
      const finished = parseTimestamp(s.ExecMainExitTimestamp);
      state.lastRun = {
        result: s.Result || 'unknown',
        ...(s.ExecMainStatus !== undefined && finished ? { exitCode: Number(s.ExecMainStatus) } : {}),
        started,
        ...(finished ? { finished } : {}),
        running: s.ActiveState === 'activating' || s.ActiveState === 'active',
      };
    }
  }
  return state;
}
