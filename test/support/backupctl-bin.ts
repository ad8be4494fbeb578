import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

export interface BinResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON document --json promises. */
  json<T = Record<string, unknown>>(): T;
}

/**
 * Variables of the runner's own environment that would change what the binary does: a real
 * config, real AWS credentials or profile, a real keyring or desktop, the journal.
 */
const SCRUBBED =
  /^(BACKUPCTL_|AWS_|CREDENTIALS_DIRECTORY$|DBUS_SESSION_BUS_ADDRESS$|DISPLAY$|WAYLAND_DISPLAY$|JOURNAL_STREAM$)/;

/** Runs `node packages/cli/bin/run.js ARGS` to its end with exactly `env` on top of a clean environment. */
export function runBin(args: string[], env: Record<string, string | undefined>): Promise<BinResult> {
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUBBED.test(k)) childEnv[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: childEnv,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({
        code,
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
}

export const PASSWORD = 'correct horse battery staple';

/** A device of its own against an S3-protocol server: config, cache, source tree in a temporary folder. */
export interface S3Device {
  dir: string;
  /** Folder `push` backs up. */
  src: string;
  env: Record<string, string | undefined>;
  run(args: string[], extra?: Record<string, string | undefined>): Promise<BinResult>;
  remove(): Promise<void>;
}

export async function makeS3Device(options: { traceFile?: string } = {}): Promise<S3Device> {
  const dir = await mkdtemp(path.join(tmpdir(), 'backupctl-e2e-'));
  const src = path.join(dir, 'src');
  await mkdir(path.join(dir, 'home'), { recursive: true });
  await mkdir(src, { recursive: true });
  const env: Record<string, string | undefined> = {
    HOME: path.join(dir, 'home'),
    BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
    BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
    BACKUPCTL_PASSWORD: PASSWORD,
    BACKUPCTL_HOST: 'e2e-host',
    // s3rver's credentials; the region the client signs for.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    // No shared config or credentials file of the runner's user.
    AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'),
    ...(options.traceFile ? { BACKUPCTL_AWS_TRACE: options.traceFile } : {}),
  };
  return {
    dir,
    src,
    env,
    run: (args, extra = {}) => runBin(args, { ...env, ...extra }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
