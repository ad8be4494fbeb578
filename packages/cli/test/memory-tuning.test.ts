/**
 * The memory settings of the long-running commands (src/launch/memory-tuning.ts): on Linux
 * with glibc, push/restore/check/prune run in a process that has MALLOC_ARENA_MAX and a
 * small V8 young generation; the user's own settings and BACKUPCTL_NO_MALLOC_TUNING win;
 * help and the quick commands run as they are; exit codes and signals come out exactly
 * as without it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv } from '../../../test/support/run-backupctl.js';
import {
  applyTunedFlags,
  isGlibc,
  RESTORE_SEMI_SPACE_FLAG,
  RESTORE_V8_FLAGS,
  SEMI_SPACE_FLAG,
  TUNED_COMMANDS,
  TUNED_V8_FLAGS,
  tuningPlan,
  V8_FLAGS_ENV,
} from '../src/launch/memory-tuning.js';
import { type Device, makeDeviceWithSource } from './support/cli.js';

const linux = (argv: string[], env: Record<string, string | undefined> = {}, execArgv: string[] = []) =>
  tuningPlan({ argv, env, platform: 'linux', execArgv, glibc: () => true });

describe('tuningPlan', () => {
  it('tunes push, restore, check and prune on Linux with glibc', () => {
    expect([...TUNED_COMMANDS].sort()).toEqual(['check', 'prune', 'push', 'restore']);
    for (const command of TUNED_COMMANDS)
      expect(linux([command, '--json'])).toEqual({
        env: { MALLOC_ARENA_MAX: '2' },
        execArgv: [command === 'restore' ? RESTORE_SEMI_SPACE_FLAG : SEMI_SPACE_FLAG],
      });
  });

  it("gives restore's main thread a young generation of 1 MiB semi-spaces, push 8", () => {
    expect(linux(['restore', 'SNAP', '--target', 'T'])?.execArgv).toEqual(['--max-semi-space-size=1']);
    expect(linux(['push', 'DIR'])?.execArgv).toEqual(['--max-semi-space-size=8']);
    // The user's own flag still wins for restore.
    expect(linux(['restore', 'SNAP'], { NODE_OPTIONS: '--max-semi-space-size=4' })?.execArgv).toEqual([]);
  });

  it('bin/run.js imports the tuning only for these commands (its own copy of the list)', () => {
    const run = readFileSync(BIN, 'utf8');
    const list = /const TUNED = \[([^\]]*)\]/.exec(run)?.[1];
    expect(list?.split(',').map((s) => s.trim().replace(/'/g, ''))).toEqual([...TUNED_COMMANDS]);
  });

  it('leaves other commands, help, other platforms and musl alone (and does not ask for the C library then)', () => {
    let asked = 0;
    const glibc = () => {
      asked++;
      return true;
    };
    for (const argv of [
      [],
      ['status'],
      ['snapshots'],
      ['--help'],
      ['push', '--help'],
      ['restore', '-h'],
      ['init'],
    ])
      expect(
        tuningPlan({ argv, env: {}, platform: 'linux', execArgv: [], glibc }),
        argv.join(' '),
      ).toBeUndefined();
    for (const platform of ['darwin', 'win32', 'freebsd'])
      expect(tuningPlan({ argv: ['push'], env: {}, platform, execArgv: [], glibc })).toBeUndefined();
    expect(asked).toBe(0);
    expect(
      tuningPlan({ argv: ['push'], env: {}, platform: 'linux', execArgv: [], glibc: () => false }),
    ).toBeUndefined();
  });

  it("the opt-out and the user's own malloc settings win", () => {
    expect(linux(['push'], { BACKUPCTL_NO_MALLOC_TUNING: '1' })).toBeUndefined();
    expect(linux(['push'], { BACKUPCTL_NO_MALLOC_TUNING: '0' })).toBeDefined();
    expect(linux(['push'], { BACKUPCTL_NO_MALLOC_TUNING: '' })).toBeDefined();
    expect(linux(['push'], { MALLOC_ARENA_MAX: '8' })).toBeUndefined();
    expect(linux(['push'], { MALLOC_TRIM_THRESHOLD_: '131072' })).toBeUndefined();
    expect(linux(['push'], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' })).toBeUndefined();
    expect(linux(['push'], { GLIBC_TUNABLES: 'glibc.rtld.optional_static_tls=1' })).toBeDefined();
  });

  it("a semi-space flag of the user's own is kept, not overridden", () => {
    expect(linux(['push'], {}, ['--max-semi-space-size=8'])?.execArgv).toEqual([]);
    expect(linux(['push'], { NODE_OPTIONS: '--max_semi_space_size=8' })?.execArgv).toEqual([]);
    expect(linux(['push'], { NODE_OPTIONS: '--enable-source-maps' })?.execArgv).toEqual([SEMI_SPACE_FLAG]);
  });
});

describe('isGlibc', () => {
  it.skipIf(process.platform !== 'linux')('says what Node’s diagnostic report says of the C library', () => {
    const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
    expect(isGlibc()).toBe(typeof report.header?.glibcVersionRuntime === 'string');
  });
});

describe('applyTunedFlags', () => {
  it('takes the variable out of the environment (no child process inherits it)', async () => {
    process.env[V8_FLAGS_ENV] = TUNED_V8_FLAGS.join(' ');
    await applyTunedFlags();
    expect(process.env[V8_FLAGS_ENV]).toBeUndefined();
  });
});

interface Seen {
  pid: number;
  ppid: number;
  arena: string | null;
  v8: string | null;
  execArgv: string[];
}

const tunable = process.platform === 'linux' && isGlibc();

describe.skipIf(!tunable)('the binary (Linux, glibc)', () => {
  let device: Device;
  let src: string;
  let repo: string;
  let preload: string;
  let n = 0;

  beforeAll(async () => {
    ({ device, src, repo } = await makeDeviceWithSource());
    // Enough data that a push is still running when the signal comes.
    for (let i = 0; i < 12; i++) await writeFile(path.join(src, `f${i}.bin`), randomBytes(16 * 1024 * 1024));
    // Every main-thread process of the binary says who it is and what it was given.
    preload = path.join(device.dir, 'who.cjs');
    await writeFile(
      preload,
      `const { isMainThread } = require('node:worker_threads');
if (isMainThread) require('node:fs').appendFileSync(process.env.WHO_FILE, JSON.stringify({ pid: process.pid, ppid: process.ppid, arena: process.env.MALLOC_ARENA_MAX ?? null, v8: process.env.BACKUPCTL_TUNED_V8_FLAGS ?? null, execArgv: process.execArgv }) + '\\n');
`,
    );
    const init = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain']);
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(async () => {
    await device?.remove();
  });

  /** Starts the binary with the preload; `seen()` reads what its processes recorded. */
  function start(args: string[], extra: Record<string, string | undefined> = {}) {
    const whoFile = path.join(device.dir, `who-${n++}.txt`);
    const child = spawn(process.execPath, [BIN, ...args], {
      env: cleanEnv({
        ...device.env,
        MALLOC_ARENA_MAX: undefined,
        MALLOC_MMAP_THRESHOLD_: undefined,
        MALLOC_TRIM_THRESHOLD_: undefined,
        GLIBC_TUNABLES: undefined,
        NODE_OPTIONS: `--require ${preload}`,
        WHO_FILE: whoFile,
        ...extra,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>(
      (resolve) => child.once('close', (code, signal) => resolve({ code, signal, output })),
    );
    const seen = (): Seen[] =>
      existsSync(whoFile)
        ? readFileSync(whoFile, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Seen)
        : [];
    return { child, done, seen };
  }

  /**
   * Waits until process `pid` has ended: gone, or a zombie (an orphan waits for PID 1 to
   * reap it, which in a container may be late; the push lock counts a zombie as gone).
   */
  async function gone(pid: number): Promise<void> {
    for (;;) {
      let state: string | undefined;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      } catch {
        state = undefined;
      }
      if (state === undefined || state === 'Z' || state === 'X') return;
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  /** Waits until the tuned process has started (its preload line is there). */
  async function tunedStarted(seen: () => Seen[]): Promise<Seen> {
    for (;;) {
      const tuned = seen().find((s) => s.arena === '2');
      if (tuned) return tuned;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('push runs once more, with MALLOC_ARENA_MAX=2 and the semi-space flag; its exit code is kept', async () => {
    const bad = start(['push', path.join(device.dir, 'missing'), '--json']);
    const tuned = await bad.done;
    const plain = await start(['push', path.join(device.dir, 'missing'), '--json'], {
      BACKUPCTL_NO_MALLOC_TUNING: '1',
    }).done;
    expect(tuned.code).not.toBe(0);
    expect(tuned.code).toBe(plain.code);
    expect(tuned.signal).toBeNull();
    const seen = bad.seen();
    expect(seen).toHaveLength(2);
    expect(seen[0]!.arena).toBeNull();
    expect(seen[1]!.arena).toBe('2');
    expect(seen[1]!.execArgv).toContain(SEMI_SPACE_FLAG);
    expect(seen[1]!.v8).toBe(TUNED_V8_FLAGS.join(' '));
    expect(seen[0]!.v8).toBeNull();
    // A child of the first (Node 20), or the same process replaced (process.execve).
    expect(seen[1]!.pid === seen[0]!.pid || seen[1]!.ppid === seen[0]!.pid).toBe(true);

    const ok = start(['push', '--json']);
    const r = await ok.done;
    expect(r.code, r.output).toBe(0);
    expect(ok.seen().map((s) => s.arena)).toEqual([null, '2']);
  });

  it("restore's tuned process has restore's semi-space flag", async () => {
    const run = start(['restore', 'nosuch', '--target', path.join(device.dir, 'out'), '--json']);
    const r = await run.done;
    expect(r.code).not.toBe(0);
    const seen = run.seen();
    expect(seen).toHaveLength(2);
    expect(seen[1]!.execArgv).toContain(RESTORE_SEMI_SPACE_FLAG);
    expect(seen[1]!.execArgv).not.toContain(SEMI_SPACE_FLAG);
    expect(seen[1]!.v8).toBe([...TUNED_V8_FLAGS, ...RESTORE_V8_FLAGS].join(' '));
    expect(RESTORE_V8_FLAGS).toEqual(['--no-parallel-scavenge']);
  });

  it('help, status, snapshots and the opt-out run in one process, untuned', async () => {
    for (const [args, extra] of [
      [['--help'], {}],
      [['push', '--help'], {}],
      [['status', '--json'], {}],
      [['snapshots', '--json'], {}],
      [['push', '--json'], { BACKUPCTL_NO_MALLOC_TUNING: '1' }],
      [['push', '--json'], { MALLOC_ARENA_MAX: '4' }],
    ] as Array<[string[], Record<string, string>]>) {
      const run = start(args, extra);
      const r = await run.done;
      expect(r.code, `${args.join(' ')}: ${r.output}`).toBe(0);
      const seen = run.seen();
      expect(seen, args.join(' ')).toHaveLength(1);
      expect(seen[0]!.execArgv).not.toContain(SEMI_SPACE_FLAG);
      expect(seen[0]!.arena).toBe(extra.MALLOC_ARENA_MAX ?? null);
      expect(seen[0]!.v8).toBeNull();
    }
  });

  /** New data to push (so the push has work left when the signal comes). */
  async function moreData(): Promise<void> {
    const dir = path.join(src, `more-${n++}`);
    await mkdir(dir);
    for (let i = 0; i < 4; i++) await writeFile(path.join(dir, `m${i}.bin`), randomBytes(16 * 1024 * 1024));
  }

  /** Waits until process `pid` holds the push lock: the command runs, its handlers are in. */
  async function holdsLock(pid: number): Promise<void> {
    for (;;) {
      const locks = (await readdir(device.env.BACKUPCTL_CACHE_DIR!, { recursive: true })).filter(
        (f) => path.basename(f) === 'lock',
      );
      for (const lock of locks) {
        try {
          const info = JSON.parse(readFileSync(path.join(device.env.BACKUPCTL_CACHE_DIR!, lock), 'utf8'));
          if (info.pid === pid) return;
        } catch {
          // being written, or just removed
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('SIGINT sent to the process started (not its group) exits 130 as before', async () => {
    await moreData();
    const run = start(['push', '--json']);
    const tuned = await tunedStarted(run.seen);
    await holdsLock(tuned.pid);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.output).toBe(130);
    expect(JSON.parse(r.output.trim().split('\n').at(-1)!)).toEqual({
      error: { code: 'INTERRUPTED', message: 'interrupted' },
      exitCode: 130,
    });
  });

  it.each(['SIGTERM', 'SIGHUP'] as const)(
    '%s kills the command, and the process started dies of it',
    async (signal) => {
      await moreData();
      const run = start(['push', '--json']);
      const tuned = await tunedStarted(run.seen);
      await holdsLock(tuned.pid);
      run.child.kill(signal);
      const r = await run.done;
      expect(r.signal, r.output).toBe(signal);
      expect(r.code).toBeNull();
      await gone(tuned.pid);
    },
  );

  it('SIGKILL of the process started leaves no command running', async () => {
    await moreData();
    const run = start(['push', '--json']);
    const tuned = await tunedStarted(run.seen);
    await holdsLock(tuned.pid);
    run.child.kill('SIGKILL');
    const r = await run.done;
    expect(r.signal).toBe('SIGKILL');
    // The tuned process is gone too.
    await gone(tuned.pid);
    // And the repository is usable at once: the next push takes the lock and completes.
    const again = await device.run(['push', '--json']);
    expect(again.code, again.stderr).toBe(0);
  });
});
