/**
 * The long-running commands (push, restore, check, prune) run with memory settings that
 * only act when they are there before the process starts, so on Linux with glibc
 * `bin/run.js` runs the command once more, in a process that has them:
 *
 * - `MALLOC_ARENA_MAX=2`: glibc gives every thread that allocates (the main thread, two
 *   chunk workers, libuv's four pool threads that run zstd) an arena of its own and keeps
 *   what is freed in it, so a push of many small files held a hundred MB or more that
 *   nothing used;
 * - `--heap-growing-percent=100` (TUNED_V8_FLAGS, set by the tuned process on itself);
 * - `--max-semi-space-size=8`: V8's young generation per isolate (main thread and each
 *   worker) grows to 3 × 16 MiB by default; half of that holds the garbage of a push as
 *   well, for a few percent more scavenging (restore: 1, RESTORE_SEMI_SPACE_FLAG).
 *
 * The user's own values win: any `MALLOC_*` tunable or `GLIBC_TUNABLES` with a malloc
 * setting in the environment, or a semi-space flag of their own, and nothing is added.
 * `BACKUPCTL_NO_MALLOC_TUNING=1` turns it off. Nothing happens on other platforms, on
 * musl, for help, or for other commands (status and snapshots stay as fast as they are).
 *
 * Where Node has `process.execve` (≥ 22.15 / 23.11) the process replaces itself (same
 * PID, nothing left behind); otherwise a child runs with stdio inherited, SIGINT, SIGTERM
 * and SIGHUP are forwarded to it, and its exit code, or the signal it died of, is this
 * process's own.
 */

import { readFileSync } from 'node:fs';

export const TUNED_COMMANDS: ReadonlySet<string> = new Set(['push', 'restore', 'check', 'prune']);

/** Set in the tuned process's environment (so a nested backupctl does not tune again). */
export const MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/**
 * MiB: V8's default is 16 on 64-bit (a young generation of up to 48 MiB per isolate). 8 is
 * where the main thread's scavenges stay cheap: at 2 a push of 100k files spent 2.8 s of
 * CPU in them (940 scavenges, against 0.85 s at 16 and 1.2 s at 8).
 */
export const SEMI_SPACE_FLAG = '--max-semi-space-size=8';

/**
 * restore's main thread: 1 MiB. What it leaves behind is mostly ArrayBuffers (downloaded
 * ranges, decoded blobs, tree packs) whose memory V8 gives back only when the object that
 * holds it is collected; a young generation that fills sooner frees them sooner. The real
 * tree's restore peaked at ~300 MiB with 8, ~285 with 2, ~250 with 1, for ~5 % more CPU
 * (docs/benchmarks.md, "Restore memory").
 */
export const RESTORE_SEMI_SPACE_FLAG = '--max-semi-space-size=1';

/** The young generation flag for a tuned command. */
export function semiSpaceFlag(command: string): string {
  return command === 'restore' ? RESTORE_SEMI_SPACE_FLAG : SEMI_SPACE_FLAG;
}

/**
 * V8 flags the tuned process sets on itself as it starts (`applyTunedFlags`), so that a
 * flag a later V8 no longer knows costs a line on stderr, not a process that cannot start.
 * `--heap-growing-percent=100`: the old generation may grow to twice what the last full
 * collection kept, where V8's own factor reaches 4 while collections are cheap. A push
 * makes a lot of garbage that outlives the young generation (promises across awaits, the
 * parsed index files as they are loaded): the heap held 90–110 MiB for 15–20 MiB live.
 * About 5–8 % more CPU on a first push of small files, for 15–25 % less peak memory.
 */
export const TUNED_V8_FLAGS: readonly string[] = ['--heap-growing-percent=100'];

/**
 * restore's as well: `--no-parallel-scavenge`. Its young generation is small
 * (RESTORE_SEMI_SPACE_FLAG), so it scavenges often and each time only a little: helper
 * threads for each cost more than they do (real tree: ~0.2 s less user CPU without).
 */
export const RESTORE_V8_FLAGS: readonly string[] = ['--no-parallel-scavenge'];

/** The V8 flags the tuned process of `command` sets on itself. */
export function tunedV8Flags(command: string | undefined): readonly string[] {
  return command === 'restore' ? [...TUNED_V8_FLAGS, ...RESTORE_V8_FLAGS] : TUNED_V8_FLAGS;
}

/** Set for the tuned process: the V8 flags it sets on itself (`applyTunedFlags`). */
export const V8_FLAGS_ENV = 'BACKUPCTL_TUNED_V8_FLAGS';

/** Set for a tuned child: the fd of its lifeline to the process that started it. */
export const PARENT_FD_ENV = 'BACKUPCTL_TUNED_PARENT_FD';

export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface TuningInput {
  /** The command line after the script: the command first. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  platform: string;
  /** Node's own flags (`process.execArgv`). */
  execArgv: readonly string[];
  /** True when the C library is glibc (asked only when everything else says tune). */
  glibc: () => boolean;
}

export interface TuningPlan {
  env: Record<string, string>;
  /** Node flags to add before the script. */
  execArgv: string[];
}

/** What to add for this run, or undefined to run as it is. */
export function tuningPlan(input: TuningInput): TuningPlan | undefined {
  const { argv, env } = input;
  if (input.platform !== 'linux') return undefined;
  const command = argv[0];
  if (command === undefined || !TUNED_COMMANDS.has(command)) return undefined;
  if (argv.includes('--help') || argv.includes('-h')) return undefined;
  const optOut = env.BACKUPCTL_NO_MALLOC_TUNING;
  if (optOut !== undefined && optOut !== '' && optOut !== '0') return undefined;
  // The user's own malloc settings win (and, once set by us, mean: already tuned).
  if (Object.keys(env).some((name) => name.startsWith('MALLOC_') && env[name] !== undefined))
    return undefined;
  if (env.GLIBC_TUNABLES?.includes('glibc.malloc.')) return undefined;
  if (!input.glibc()) return undefined;
  const ownSemiSpace = [...input.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) =>
    /^--(max|min)[-_]semi[-_]space[-_]size/.test(flag),
  );
  return { env: { ...MALLOC_ENV }, execArgv: ownSemiSpace ? [] : [semiSpaceFlag(command)] };
}

/**
 * glibc: the C library this process has mapped (`/proc/self/maps`, a fraction of a
 * millisecond), else as Node's diagnostic report says (5–10 ms: it gathers much more).
 */
export function isGlibc(): boolean {
  try {
    const maps = readFileSync('/proc/self/maps', 'latin1');
    if (/\/libc\.so\.6$/m.test(maps)) return true;
    if (/musl/.test(maps)) return false;
  } catch {
    // no /proc: ask the report
  }
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    return typeof report?.header?.glibcVersionRuntime === 'string';
  } catch {
    return false;
  }
}

/**
 * Runs the command in a tuned process when `tuningPlan` says so. Resolves false when it
 * did not (the caller runs the command itself), true when a child runs it (this process
 * then only waits, and ends as the child ended). With `process.execve` it never returns.
 */
export async function relaunchTuned(argv: readonly string[], script: string): Promise<boolean> {
  const plan = tuningPlan({
    argv,
    env: process.env,
    platform: process.platform,
    execArgv: process.execArgv,
    glibc: isGlibc,
  });
  if (!plan) return false;
  const env = { ...process.env, ...plan.env, [V8_FLAGS_ENV]: tunedV8Flags(argv[0]).join(' ') };
  const args = [...process.execArgv, ...plan.execArgv, script, ...argv];
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never })
    .execve;
  if (typeof execve === 'function') {
    try {
      execve(process.execPath, [process.execPath, ...args], env);
    } catch {
      // execve refused (a sandbox): a child instead.
    }
  }
  const [{ spawn }, { constants }] = await Promise.all([import('node:child_process'), import('node:os')]);
  return new Promise<boolean>((resolve) => {
    // fd 3: a pipe whose other end only this process holds. Its end (this process gone,
    // even by SIGKILL) ends the child too (watchParent): no orphan runs on.
    const child = spawn(process.execPath, args, {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: { ...env, [PARENT_FD_ENV]: '3' },
    });
    const lifeline = child.stdio[3] as (NodeJS.ReadableStream & { unref?: () => void }) | null;
    lifeline?.unref?.();
    const forward = (signal: NodeJS.Signals) => {
      // A terminal's Ctrl-C reaches the child too (one process group); a `kill PID` of this
      // process reaches only this one. Either way the child sees it.
      child.kill(signal);
    };
    const listeners = FORWARDED_SIGNALS.map((signal) => {
      const listener = () => forward(signal);
      process.on(signal, listener);
      return [signal, listener] as const;
    });
    const detach = () => {
      for (const [signal, listener] of listeners) process.off(signal, listener);
    };
    let started = false;
    child.on('error', () => {
      if (started) return; // a signal that could not be forwarded: the child runs on
      // Not started (no process could be made): the command runs here, untuned.
      detach();
      resolve(false);
    });
    child.once('spawn', () => {
      started = true;
      resolve(true);
      child.once('exit', (code, signal) => {
        detach();
        if (signal) {
          // Die as the child died: a shell, systemd or a test sees the same signal.
          process.kill(process.pid, signal);
          // A signal this process ignores (SIGPIPE): the shell's number for it instead.
          setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 200);
          return;
        }
        process.exit(code ?? 1);
      });
    });
  });
}

/**
 * In a tuned child (`PARENT_FD_ENV` set): dies at once (SIGKILL, as a crash) if the process
 * that started it ends first, since that one can only end first by being killed with a
 * signal it cannot forward. Returns whether a lifeline was found.
 */
export async function watchParent(): Promise<boolean> {
  const fd = Number(process.env[PARENT_FD_ENV]);
  delete process.env[PARENT_FD_ENV];
  if (!Number.isInteger(fd) || fd < 3) return false;
  const { Socket } = await import('node:net');
  try {
    const lifeline = new Socket({ fd, readable: true, writable: false });
    const die = () => process.kill(process.pid, 'SIGKILL');
    lifeline.on('end', die);
    lifeline.on('error', die);
    lifeline.resume();
    lifeline.unref();
    return true;
  } catch {
    return false;
  }
}

/** In the tuned process (`V8_FLAGS_ENV` set): sets those V8 flags, once, and forgets them. */
export async function applyTunedFlags(): Promise<void> {
  const flags = process.env[V8_FLAGS_ENV];
  delete process.env[V8_FLAGS_ENV];
  if (!flags) return;
  const { setFlagsFromString } = await import('node:v8');
  // Only ours: the variable is no way to hand V8 any other flag.
  const ours = [...TUNED_V8_FLAGS, ...RESTORE_V8_FLAGS];
  for (const flag of flags.split(' ').filter((f) => ours.includes(f))) setFlagsFromString(flag);
}
