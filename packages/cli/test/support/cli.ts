import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  assertBuilt,
  type CliResult,
  type RunningCli,
  type RunOptions,
  runCli,
  spawnCli,
} from '../../../../test/support/run-backupctl.js';

export * from '../../../../test/support/run-backupctl.js';

export const CLI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

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
  if (options.mode !== undefined) await chmod(dir, options.mode);
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

/** A built binary, a device of its own, an empty source folder, and where its repository goes. */
export async function makeDeviceWithSource(): Promise<{ device: Device; src: string; repo: string }> {
  assertBuilt();
  const device = await makeDevice();
  const src = path.join(device.dir, 'src');
  const repo = path.join(device.dir, 'repo');
  await mkdir(src, { recursive: true });
  return { device, src, repo };
}
