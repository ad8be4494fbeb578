import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(CLI_DIR, 'bin', 'run.js');

/** The binary runs from dist: `npm test` builds first; a bare `vitest run` needs `npm run build`. */
export function assertBuilt(): void {
  if (!existsSync(path.join(CLI_DIR, 'dist', 'commands', 'push.js'))) {
    throw new Error('packages/cli/dist is missing: run `npm run build` first (the root `npm test` does)');
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
 * what it does (a real config, a real keyring, real AWS credentials).
 */
const SCRUBBED =
  /^(BACKUPCTL_|AWS_|CREDENTIALS_DIRECTORY$|DBUS_SESSION_BUS_ADDRESS$|DISPLAY$|WAYLAND_DISPLAY$|CI$)/;

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
    cwd: options.cwd,
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

/** A device of its own: config, cache and a passphrase in a temporary folder. */
export interface Device {
  dir: string;
  env: Record<string, string | undefined>;
  /** runCli with this device's environment (plus `env`). */
  run(args: string[], env?: Record<string, string | undefined>, options?: RunOptions): Promise<CliResult>;
  /** spawnCli with this device's environment. */
  spawn(args: string[]): RunningCli;
  remove(): Promise<void>;
}

export const PASSWORD = 'correct horse battery staple';

export async function makeDevice(
  options: { password?: string | undefined; mode?: number } = {},
): Promise<Device> {
  const dir = await mkdtemp(path.join(tmpdir(), 'backupctl-cli-'));
  if (options.mode !== undefined) {
    const { chmod } = await import('node:fs/promises');
    await chmod(dir, options.mode);
  }
  await mkdir(path.join(dir, 'home'), { recursive: true, mode: 0o777 });
  const env: Record<string, string | undefined> = {
    HOME: path.join(dir, 'home'),
    BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
    BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
    BACKUPCTL_PASSWORD: 'password' in options ? options.password : PASSWORD,
    BACKUPCTL_HOST: 'test-host',
  };
  return {
    dir,
    env,
    run: (args, extra = {}, runOptions = {}) => runCli(args, { ...runOptions, env: { ...env, ...extra } }),
    spawn: (args) => spawnCli(args, { env }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
