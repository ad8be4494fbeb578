import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { SYSTEMD_PASSWORD_CREDENTIAL } from '@backupctl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, CLI_DIR } from './support/cli.js';

const execFileAsync = promisify(execFile);
const UNITS = path.resolve(CLI_DIR, '..', '..', 'examples', 'systemd');
const SERVICE = 'backupctl-push.service';
const TIMER = 'backupctl-push.timer';
const NOTIFY = 'backupctl-notify@.service';

type Unit = Record<string, Record<string, string[]>>;

/** A systemd unit file as sections of key → values (repeated keys kept in order). */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  // A trailing backslash continues the line (the newline becomes a space).
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit[header[1] as string] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    const values = section[key] ?? [];
    values.push(line.slice(eq + 1).trim());
    section[key] = values;
  }
  return unit;
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

let service: Unit;
let timer: Unit;
let notify: Unit;
let serviceText: string;
beforeAll(async () => {
  serviceText = await readFile(path.join(UNITS, SERVICE), 'utf8');
  service = parseUnit(serviceText);
  timer = parseUnit(await readFile(path.join(UNITS, TIMER), 'utf8'));
  notify = parseUnit(await readFile(path.join(UNITS, NOTIFY), 'utf8'));
});

describe('examples/systemd', () => {
  it('the service runs `backupctl push` once, at idle priority, and notifies on any failure', () => {
    const s = service.Service ?? {};
    expect(s.Type).toEqual(['oneshot']);
    expect(s.ExecStart).toHaveLength(1);
    const [binary, ...args] = (s.ExecStart?.[0] ?? '').split(/\s+/);
    expect(path.isAbsolute(binary ?? '')).toBe(true);
    expect(path.basename(binary ?? '')).toBe('backupctl');
    expect(args).toEqual(['push']);
    expect(s.Nice).toEqual(['19']);
    expect(s.IOSchedulingClass).toEqual(['idle']);
    expect(service.Unit?.OnFailure).toEqual(['backupctl-notify@%n.service']);
    // Exit 20 (quarantined) — indeed every documented failure — must stay a failure.
    expect(s.SuccessExitStatus ?? []).toEqual([]);
  });

  it('offers the headless credential, commented out, under the name the SDK reads', () => {
    expect(service.Service?.LoadCredentialEncrypted).toBeUndefined();
    const line = serviceText.split('\n').find((l) => /^#\s*LoadCredentialEncrypted=/.test(l));
    expect(line).toBe(`#LoadCredentialEncrypted=${SYSTEMD_PASSWORD_CREDENTIAL}:/etc/backupctl/password.cred`);
  });

  it("the exit codes named in the service are the CLI's", async () => {
    const { ExitCodes } = (await import(pathToFileURL(path.join(CLI_DIR, 'dist', 'exit-codes.js')).href)) as {
      ExitCodes: Record<string, number>;
    };
    const codes = new Set(Object.values(ExitCodes));
    const comment = serviceText
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .join(' ');
    const named = [
      ...comment.matchAll(
        /\b(\d{1,3}) (?:done|snapshot|not set up|another|passphrase|QUARANTINED|denied|key invalid|offline|bucket)/g,
      ),
    ].map((m) => Number(m[1]));
    expect(named.sort((a, b) => a - b)).toEqual([0, 3, 10, 11, 12, 20, 21, 22, 23, 24]);
    for (const code of named) expect(codes.has(code), `exit ${code}`).toBe(true);
    expect(ExitCodes.quarantined).toBe(20);
  });

  it('the timer is hourly, catches up after sleep, spreads the start, and starts the service', () => {
    const t = timer.Timer ?? {};
    expect(t.OnCalendar).toEqual(['hourly']);
    expect(t.Persistent).toEqual(['true']);
    expect(t.RandomizedDelaySec?.[0]).toMatch(/^\d+(min|s|m)?$/);
    expect(t.Unit).toEqual([SERVICE]);
    expect(timer.Install?.WantedBy).toEqual(['timers.target']);
  });

  it('the notify unit says QUARANTINED, urgently, for exit 20 — and something milder otherwise', async () => {
    const exec = notify.Service?.ExecStart?.[0] ?? '';
    const match = /^\/bin\/sh -c '(.*)'$/.exec(exec);
    expect(match, exec).not.toBeNull();
    // What systemd hands to sh: `$$` is a literal `$`, %i the failed unit.
    const script = (match?.[1] ?? '').replaceAll('$$', '$').replaceAll('%i', SERVICE);
    const dir = await mkdtemp(path.join(tmpdir(), 'notify-'));
    try {
      const log = path.join(dir, 'calls');
      await writeFile(path.join(dir, 'notify-send'), `#!/bin/sh\nprintf '%s\\n' "$@" >> "${log}"\n`);
      await chmod(path.join(dir, 'notify-send'), 0o755);
      const run = async (status: string) => {
        await rm(log, { force: true });
        const { stderr } = await execFileAsync('/bin/sh', ['-c', script], {
          env: { PATH: `${dir}:/usr/bin:/bin`, MONITOR_EXIT_STATUS: status },
        });
        return { stderr, calls: await readFile(log, 'utf8') };
      };
      const quarantined = await run('20');
      expect(quarantined.stderr).toMatch(new RegExp(`^backupctl: ${SERVICE}: QUARANTINED`));
      expect(quarantined.calls).toContain('--urgency=critical');
      expect(quarantined.calls).toMatch(/backupctl status/);
      const other = await run('12');
      expect(other.calls).toContain('--urgency=normal');
      expect(other.calls).toContain('Backup failed (exit 12)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const analyze = onPath('systemd-analyze');
  // Optional: the INI checks above always run; systemd-analyze is there on most Linux hosts.
  it.skipIf(!analyze)(
    `systemd-analyze verify accepts all three units${analyze ? '' : ' (skipped: systemd-analyze not installed)'}`,
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'units-'));
      try {
        for (const f of [SERVICE, TIMER, NOTIFY]) await copyFile(path.join(UNITS, f), path.join(dir, f));
        // verify insists that ExecStart's binary exists: point it at this checkout's.
        const text = await readFile(path.join(dir, SERVICE), 'utf8');
        const binary = service.Service?.ExecStart?.[0]?.split(/\s+/)[0] ?? '';
        await writeFile(path.join(dir, SERVICE), text.replace(`ExecStart=${binary} `, `ExecStart=${BIN} `));
        const { stdout, stderr } = await execFileAsync(
          'systemd-analyze',
          [
            'verify',
            '--man=no',
            ...[SERVICE, TIMER, 'backupctl-notify@backupctl-push.service.service'].map((u) => `./${u}`),
          ],
          { cwd: dir },
        );
        // Unknown keys and bad values are only warnings: any output is a failure.
        expect(`${stdout}${stderr}`).toBe('');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
