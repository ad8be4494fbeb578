import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { SYSTEMD_DEVICE_KEY_CREDENTIAL, SYSTEMD_PASSWORD_CREDENTIAL } from '@backupctl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, CLI_DIR, type Device, makeDevice } from './support/cli.js';

const execFileAsync = promisify(execFile);
const EXAMPLES = path.resolve(CLI_DIR, '..', '..', 'examples', 'systemd');
const SERVICE = 'backupctl-push.service';
const TIMER = 'backupctl-push.timer';
const NOTIFY = 'backupctl-notify@.service';

type Unit = Record<string, Record<string, string[]>>;
type UnitsModule = typeof import('../src/schedule/units.js');
type InstallModule = typeof import('../src/schedule/install.js');

let units: UnitsModule;
let install: InstallModule;
beforeAll(async () => {
  const dist = (f: string) => pathToFileURL(path.join(CLI_DIR, 'dist', 'schedule', f)).href;
  units = (await import(dist('units.js'))) as UnitsModule;
  install = (await import(dist('install.js'))) as InstallModule;
});

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

const byName = (list: { name: string; content: string }[], name: string) =>
  list.find((u) => u.name === name)?.content ?? '';

/**
 * `systemd-analyze verify` on a set of units; any output (unknown key, bad value, missing
 * binary) fails. ExecStart's node and script are pointed at this machine's.
 */
async function verify(list: { name: string; content: string }[], scope: 'user' | 'system'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'units-'));
  try {
    for (const u of list) {
      const text = u.content.replace(
        /^ExecStart=\S+ \S+ push$/m,
        `ExecStart=${process.execPath} ${BIN} push`,
      );
      await writeFile(path.join(dir, u.name), text);
    }
    const runtime = path.join(dir, 'runtime');
    await mkdir(runtime, { mode: 0o700 });
    const { stdout, stderr } = await execFileAsync(
      'systemd-analyze',
      [
        'verify',
        '--man=no',
        ...(scope === 'user' ? ['--user'] : []),
        ...[SERVICE, TIMER, 'backupctl-notify@backupctl-push.service.service'].map((u) => `./${u}`),
      ],
      { cwd: dir, env: { ...process.env, XDG_RUNTIME_DIR: runtime } },
    );
    return `${stdout}${stderr}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('generated units (examples/systemd holds them as generated)', () => {
  for (const [scope, dir] of [
    ['user', EXAMPLES],
    ['system', path.join(EXAMPLES, 'system')],
  ] as const) {
    it(`examples/systemd${scope === 'system' ? '/system' : ''} equals what \`schedule install --${scope}\` generates`, async () => {
      const generated = units.renderUnits(units.exampleUnitOptions(scope));
      expect(generated.map((u) => u.name)).toEqual([SERVICE, TIMER, NOTIFY]);
      if (process.env.UPDATE_EXAMPLES) {
        await mkdir(dir, { recursive: true });
        for (const u of generated) await writeFile(path.join(dir, u.name), u.content);
      }
      for (const u of generated)
        expect(await readFile(path.join(dir, u.name), 'utf8'), u.name).toBe(u.content);
    });
  }

  it('the service: oneshot push with absolute node and script, idle priority, hardened, notifies on any failure', () => {
    const list = units.renderUnits(units.exampleUnitOptions('user'));
    const service = parseUnit(byName(list, SERVICE));
    const s = service.Service ?? {};
    expect(s.Type).toEqual(['oneshot']);
    expect(s.ExecStart).toHaveLength(1);
    const [node, script, ...args] = (s.ExecStart?.[0] ?? '').split(/\s+/);
    expect(path.isAbsolute(node ?? '')).toBe(true);
    expect(path.basename(node ?? '')).toBe('node');
    expect(script).toMatch(/^\/.*\/backupctl\/bin\/run\.js$/);
    expect(args).toEqual(['push']);
    expect(s.Nice).toEqual(['19']);
    expect(s.CPUSchedulingPolicy).toEqual(['idle']);
    expect(s.IOSchedulingClass).toEqual(['idle']);
    expect(s.TimeoutStartSec).toEqual(['12h']);
    expect(s.KillSignal).toEqual(['SIGINT']);
    // A backup reader: the home read-only, only its own state writable.
    expect(s.ProtectHome).toEqual(['read-only']);
    expect(s.ProtectSystem).toEqual(['strict']);
    expect(s.ReadWritePaths).toEqual(['-%h/.cache/backupctl -%h/.config/backupctl']);
    expect(s.NoNewPrivileges).toEqual(['true']);
    expect(s.PrivateTmp).toEqual(['true']);
    // node's JIT needs writable+executable memory.
    expect(s.MemoryDenyWriteExecute).toBeUndefined();
    expect(service.Unit?.OnFailure).toEqual(['backupctl-notify@%n.service']);
    // Exit 20 (quarantined) — indeed every documented failure — must stay a failure.
    expect(s.SuccessExitStatus ?? []).toEqual([]);
    // User managers have no network-online.target; keychain, not systemd credentials.
    expect(service.Unit?.After).toBeUndefined();
    expect(s.LoadCredentialEncrypted).toBeUndefined();
  });

  it('the system service: waits for the network, runs as the user, loads encrypted credentials by the names the SDK reads', () => {
    const list = units.renderUnits(units.exampleUnitOptions('system'));
    const service = parseUnit(byName(list, SERVICE));
    expect(service.Unit?.Wants).toEqual(['network-online.target']);
    expect(service.Unit?.After).toEqual(['network-online.target']);
    expect(service.Service?.User).toEqual(['you']);
    expect(service.Service?.ReadWritePaths).toEqual([
      '-/home/you/.cache/backupctl -/home/you/.config/backupctl',
    ]);
    expect(service.Service?.LoadCredentialEncrypted).toEqual([
      `${SYSTEMD_PASSWORD_CREDENTIAL}:/etc/backupctl/credentials/${SYSTEMD_PASSWORD_CREDENTIAL}.cred`,
      `${SYSTEMD_DEVICE_KEY_CREDENTIAL}:/etc/backupctl/credentials/${SYSTEMD_DEVICE_KEY_CREDENTIAL}.cred`,
    ]);
    expect(service.Service?.Environment).toEqual([
      'BACKUPCTL_CONFIG_DIR=/home/you/.config/backupctl',
      'BACKUPCTL_CACHE_DIR=/home/you/.cache/backupctl',
    ]);
  });

  it("the exit codes named in the service are the CLI's", async () => {
    const { ExitCodes } = (await import(pathToFileURL(path.join(CLI_DIR, 'dist', 'exit-codes.js')).href)) as {
      ExitCodes: Record<string, number>;
    };
    const codes = new Set(Object.values(ExitCodes));
    const comment = byName(units.renderUnits(units.exampleUnitOptions('user')), SERVICE)
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

  it('the timer: on the clock, catches up after sleep, spreads the start, starts the service', () => {
    const timer = parseUnit(byName(units.renderUnits(units.exampleUnitOptions('user')), TIMER));
    const t = timer.Timer ?? {};
    expect(t.OnCalendar).toEqual(['hourly']);
    expect(t.Persistent).toEqual(['true']);
    expect(t.RandomizedDelaySec).toEqual(['15min']);
    expect(t.Unit).toEqual([SERVICE]);
    expect(timer.Install?.WantedBy).toEqual(['timers.target']);
  });

  it('--every maps to clock-aligned OnCalendar= with a delay of at most a quarter of the interval', () => {
    const cases: [string, string, string][] = [
      ['15m', '*:0/15', '225s'],
      ['30m', '*:0/30', '450s'],
      ['1h', 'hourly', '15min'],
      ['6h', '0/6:00', '15min'],
      ['1d', 'daily', '15min'],
      ['1w', 'weekly', '15min'],
    ];
    for (const [every, onCalendar, delay] of cases) {
      const schedule = units.scheduleFromEvery(every);
      expect(schedule.onCalendar, every).toBe(onCalendar);
      const timer = parseUnit(units.renderTimer({ ...units.exampleUnitOptions('user'), schedule }));
      expect(timer.Timer?.RandomizedDelaySec, every).toEqual([delay]);
    }
    for (const bad of ['7m', '5h', '2d', 'hourly', '1x'])
      expect(() => units.scheduleFromEvery(bad), bad).toThrow(/--every/);
  });

  it('the notify unit says QUARANTINED, urgently and at journal priority crit, for exit 20 — milder otherwise', async () => {
    const notify = parseUnit(byName(units.renderUnits(units.exampleUnitOptions('user')), NOTIFY));
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
      expect(quarantined.stderr).toMatch(new RegExp(`^<2>backupctl: ${SERVICE}: QUARANTINED`));
      expect(quarantined.calls).toContain('--urgency=critical');
      expect(quarantined.calls).toMatch(/backupctl status/);
      const other = await run('12');
      expect(other.stderr).toMatch(/^<4>backupctl: /);
      expect(other.calls).toContain('--urgency=normal');
      expect(other.calls).toContain('Backup failed (exit 12)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const analyze = onPath('systemd-analyze');
  describe.skipIf(!analyze)('systemd-analyze verify (systemd is in .ci/run)', () => {
    it('accepts the user and system units of every schedule', async () => {
      const schedules = ['15m', '1h', '6h', '1d', '1w'].map((e) => units.scheduleFromEvery(e));
      schedules.push(await install.scheduleFromCalendar('Mon..Fri *-*-* 02:30'));
      for (const scope of ['user', 'system'] as const) {
        for (const schedule of schedules) {
          const list = units.renderUnits({ ...units.exampleUnitOptions(scope), schedule });
          expect(await verify(list, scope), `${scope} ${schedule.onCalendar}`).toBe('');
        }
      }
    });

    it('--on-calendar is checked by systemd, and its interval measured', async () => {
      expect(await install.scheduleFromCalendar('*-*-* 02:30')).toEqual({
        onCalendar: '*-*-* 02:30',
        intervalSeconds: 86_400,
      });
      await expect(install.scheduleFromCalendar('every tuesday-ish')).rejects.toThrow(
        /not a systemd calendar/,
      );
    });
  });
});

describe('backupctl schedule', () => {
  let device: Device;
  let fake: string;
  let calls: string;
  beforeAll(async () => {
    device = await makeDevice();
    await device.run(['init', '--repo', path.join(device.dir, 'repo'), '--no-keychain']);
    // A stand-in for systemctl (no systemd manager runs here): records its arguments and
    // answers `show` the way systemctl does (Key=value lines; --timestamp=unix: @seconds).
    fake = path.join(device.dir, 'bin');
    calls = path.join(device.dir, 'systemctl-calls');
    await mkdir(fake);
    await writeFile(
      path.join(fake, 'systemctl'),
      `#!/bin/sh
printf '%s\\n' "$*" >> "${calls}"
case "$*" in
  *"show"*"${TIMER}"*) cat "${device.dir}/timer.show" ;;
  *"show"*"${SERVICE}"*) cat "${device.dir}/service.show" ;;
esac
`,
    );
    await chmod(path.join(fake, 'systemctl'), 0o755);
  });
  afterAll(() => device.remove());

  const env = () => ({
    PATH: `${fake}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(device.dir, 'xdg'),
  });

  it('--dry-run --json prints exactly {"units":[{name, content}]} and writes nothing', async () => {
    const r = await device.run(['schedule', 'install', '--dry-run', '--json', '--every', '6h'], env());
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { units: { name: string; content: string }[] };
    expect(Object.keys(doc)).toEqual(['units']);
    expect(doc.units.map((u) => u.name)).toEqual([SERVICE, TIMER, NOTIFY]);
    for (const u of doc.units) expect(Object.keys(u)).toEqual(['name', 'content']);
    expect(parseUnit(byName(doc.units, TIMER)).Timer?.OnCalendar).toEqual(['0/6:00']);
    const [node, script] = (parseUnit(byName(doc.units, SERVICE)).Service?.ExecStart?.[0] ?? '').split(' ');
    expect(node).toBe(process.execPath);
    expect(script).toBe(BIN);
    await expect(readFile(calls, 'utf8')).rejects.toThrow();
  });

  it('refuses combinations that cannot work, before changing anything', async () => {
    const keychainSystem = await device.run(
      ['schedule', 'install', '--system', '--credentials', 'keychain'],
      env(),
    );
    expect(keychainSystem.code).toBe(2);
    expect(keychainSystem.stderr).toMatch(/cannot reach the keychain/);
    const both = await device.run(['schedule', 'install', '--every', '1h', '--on-calendar', 'daily'], env());
    expect(both.code).toBe(2);
    const bad = await device.run(['schedule', 'install', '--every', '7m', '--json'], env());
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error.code).toBe('USAGE');
  });

  it('install writes the units, reloads and enables the timer; status reads systemd; remove undoes it', async () => {
    const installed = await device.run(['schedule', 'install', '--every', '1h'], env());
    expect(installed.code, installed.stderr).toBe(0);
    const unitDir = path.join(device.dir, 'xdg', 'systemd', 'user');
    const service = parseUnit(await readFile(path.join(unitDir, SERVICE), 'utf8'));
    expect(service.Service?.Environment).toContain(`BACKUPCTL_CONFIG_DIR=${device.env.BACKUPCTL_CONFIG_DIR}`);
    expect((await readFile(calls, 'utf8')).split('\n')).toEqual([
      '--user daemon-reload',
      `--user enable --now ${TIMER}`,
      '',
    ]);

    const now = Math.floor(Date.now() / 1000);
    await writeFile(
      path.join(device.dir, 'timer.show'),
      `LoadState=loaded\nUnitFileState=enabled\nActiveState=active\nNextElapseUSecRealtime=@${now + 1800}\nLastTriggerUSec=@${now - 1800}\n`,
    );
    await writeFile(
      path.join(device.dir, 'service.show'),
      `Result=exit-code\nExecMainStatus=20\nExecMainStartTimestamp=@${now - 1800}\nExecMainExitTimestamp=@${now - 1790}\nActiveState=failed\n`,
    );
    const status = await device.run(['schedule', 'status'], env());
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^timer\s+enabled, active$/m);
    expect(status.stdout).toMatch(/^next run\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+ \(in 30 min\)$/m);
    expect(status.stdout).toMatch(/^last run\s+.*\(30 min ago\) failed: exit 20 \(QUARANTINED\)$/m);
    expect(status.stdout).toMatch(/^last ok\s+never$/m);
    const json = JSON.parse((await device.run(['schedule', 'status', '--json'], env())).stdout);
    expect(json.timer.lastRun).toMatchObject({ result: 'exit-code', exitCode: 20, running: false });
    expect(json.timer.next).toBe(new Date((now + 1800) * 1000).toISOString());
    expect(json.overdue).toBe(false);

    const removed = await device.run(['schedule', 'remove'], env());
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(path.join(unitDir, SERVICE));
    await expect(readFile(path.join(unitDir, TIMER))).rejects.toThrow();
    expect(await readFile(calls, 'utf8')).toContain(`--user disable --now ${TIMER}`);
    const after = await device.run(['schedule', 'status'], env());
    expect(after.stdout).toMatch(/^schedule\s+not installed$/m);
  });

  it('without systemd, install says so with exit 40 and a next step', async () => {
    const r = await device.run(['schedule', 'install', '--json'], {
      PATH: path.dirname(process.execPath),
      XDG_CONFIG_HOME: path.join(device.dir, 'xdg2'),
    });
    expect(r.code).toBe(40);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.code).toBe('SCHEDULER_UNAVAILABLE');
    expect(doc.error.resolution).toMatch(/--dry-run/);
  });
});

// systemd-creds encrypts with the host key (/var/lib/systemd/credential.secret): root only.
const canEncrypt = onPath('systemd-creds') && process.getuid?.() === 0;
describe.skipIf(!canEncrypt)('--credentials systemd: systemd-creds encrypt', () => {
  it('encrypts a secret from stdin to a file that systemd-creds decrypts to the same secret', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'creds-'));
    try {
      const file = path.join(dir, 'sub', `${SYSTEMD_PASSWORD_CREDENTIAL}.cred`);
      await install.encryptCredential(SYSTEMD_PASSWORD_CREDENTIAL, 'sekrit passphrase', file);
      const text = await readFile(file, 'utf8');
      expect(text).not.toContain('sekrit');
      const { stdout } = await execFileAsync('systemd-creds', [
        'decrypt',
        `--name=${SYSTEMD_PASSWORD_CREDENTIAL}`,
        file,
        '-',
      ]);
      expect(stdout).toBe('sekrit passphrase');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!canEncrypt)('schedule install --system --credentials systemd (in a scratch folder)', () => {
  it('encrypts both secrets to the files the service loads, writes the units, enables the timer', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'system-install-'));
    try {
      const options = {
        ...units.exampleUnitOptions('system'),
        credentialDir: path.join(dir, 'credentials'),
      };
      const list = units.renderUnits(options);
      const systemctl: string[] = [];
      const { exec } = await import(pathToFileURL(path.join(CLI_DIR, 'dist', 'schedule', 'systemd.js')).href);
      // systemd-creds for real; systemctl recorded (no system manager runs here).
      const run = async (file: string, args: string[], input?: string) => {
        if (file === 'systemctl') {
          systemctl.push(args.join(' '));
          return { stdout: '', stderr: '', code: 0 };
        }
        return exec(file, args, input);
      };
      const key = JSON.stringify({
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG',
      });
      const result = await install.installUnits(
        list,
        options,
        { password: 'the passphrase', awsKey: key },
        run,
        path.join(dir, 'units'),
      );
      expect(systemctl).toEqual(['daemon-reload', `enable --now ${TIMER}`]);
      expect(result.written.map((f) => path.basename(f))).toEqual([SERVICE, TIMER, NOTIFY]);
      // Every credential the service loads exists and decrypts (under its name) to the secret.
      const loads =
        parseUnit(await readFile(path.join(dir, 'units', SERVICE), 'utf8')).Service
          ?.LoadCredentialEncrypted ?? [];
      const expected: Record<string, string> = {
        [SYSTEMD_PASSWORD_CREDENTIAL]: 'the passphrase',
        [SYSTEMD_DEVICE_KEY_CREDENTIAL]: key,
      };
      expect(loads).toHaveLength(2);
      for (const line of loads) {
        const [name, file] = line.split(':') as [string, string];
        expect(result.credentialFiles).toContain(file);
        const { stdout } = await execFileAsync('systemd-creds', ['decrypt', `--name=${name}`, file, '-']);
        expect(stdout).toBe(expected[name]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
