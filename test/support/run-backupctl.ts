/** Runs the real `backupctl` binary in tests, with a clean environment. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (test/support/ is two levels below it). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The real binary, as a user runs it. */
export const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'run.js');

/** The binary runs from dist: `npm test` builds first; a bare `vitest run` needs `npm run build`. */
export function assertBuilt(): void {
  for (const file of ['packages/cli/dist/commands/push.js', 'packages/core/dist/index.js']) {
    if (!existsSync(path.join(ROOT, file))) {
      throw new Error(`${file} is missing: run \`npm run build\` first (the root \`npm test\` does)`);
    }
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON document --json promises (throws if it is not one). */
  json<T = Record<string, unknown>>(): T;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Run as this user (root runs tests as uid 65534 where permissions must bite). */
  uid?: number;
  gid?: number;
}

/**
 * Variables of the test runner's own environment that would leak into the binary and change
 * what it does: a real config, real AWS credentials or profile, a real keyring or desktop,
 * the journal.
 */
const SCRUBBED =
  /^(BACKUPCTL_|AWS_|CREDENTIALS_DIRECTORY$|DBUS_SESSION_BUS_ADDRESS$|DISPLAY$|WAYLAND_DISPLAY$|JOURNAL_STREAM$|CI$)/;

export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUBBED.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface RunningCli {
  child: ChildProcess;
  /** Settles when the process has exited and its output is closed. */
  result: Promise<CliResult>;
}

/** Starts the real binary (`node packages/cli/bin/run.js ARGS`) without waiting for it. */
export function spawnCli(args: string[], options: RunOptions = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cleanEnv(options.env),
    cwd: options.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json<T>() {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(
              `stdout of \`backupctl ${args.join(' ')}\` is not one JSON document:\n${stdout}\nstderr:\n${stderr}`,
            );
          }
        },
      }),
    );
  });
  return { child, result };
}

/** Runs the real binary to its end. */
export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).result;
}

/**
 * Tests that run the binary as uid 65534 (when they run as root, so that modes bite) need
 * that user to reach the binary: a clone inside a private folder (mktemp -d is 0700, as in
 * shared/tools/fresh-clone.sh) is not reachable. Returns why, to skip with the reason; in CI
 * (CI set) it throws instead, so CI never skips them silently.
 */
export function unprivilegedUserCannotReachBinary(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (let dir = path.dirname(BIN); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      const reason = `uid 65534 cannot reach the binary: ${dir} is not traversable by others (clone into a world-traversable folder)`;
      if (process.env.CI) throw new Error(reason);
      return reason;
    }
    if (dir === path.dirname(dir)) return undefined;
  }
}
