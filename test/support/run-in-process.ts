/**
 * Runs backupctl commands inside the test process (the admin commands need the mocked
 * control plane, which lives in this process). The commands are loaded by oclif as the
 * binary loads them; the hooks a test sets (secret store, admin clients, clock) go on the
 * BaseCommand those loaded classes extend — the same module the binary uses.
 */
import path from 'node:path';
import { Config } from '@oclif/core';
import { ROOT } from './run-backupctl.js';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr as a terminal shows them, interleaved. */
  output: string;
  json<T = Record<string, unknown>>(): T;
}

export interface BaseCommandHooks {
  secretStoreFactory: () => unknown;
  adminClientsFactory: (options: { profile?: string; region?: string }) => unknown;
  clock: { sleep: (ms: number) => Promise<void>; now: () => number };
}

let config: Config | undefined;

async function loadConfig(): Promise<Config> {
  config ??= await Config.load({ root: path.join(ROOT, 'packages', 'cli') });
  return config;
}

/** The BaseCommand class the loaded commands extend (found through one of them). */
export async function baseCommandHooks(): Promise<BaseCommandHooks> {
  const c = await loadConfig();
  const init = await c.findCommand('init')!.load();
  return Object.getPrototypeOf(init) as BaseCommandHooks;
}

/** `id` as oclif names it (`guard:status`), then its arguments. */
export async function runInProcess(id: string, args: string[]): Promise<InProcessResult> {
  const c = await loadConfig();
  let stdout = '';
  let stderr = '';
  let output = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    output += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    output += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  let code = 0;
  try {
    await c.runCommand(id, args);
  } catch (error) {
    const exit = (error as { oclif?: { exit?: number } }).oclif?.exit;
    if (exit === undefined) {
      stderr += `${(error as Error).stack}\n`;
      code = 1;
    } else code = exit;
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    // BaseCommand sets it for the binary; it must not become the test runner's exit code.
    process.exitCode = undefined;
  }
  return {
    code,
    stdout,
    stderr,
    output,
    json<T>() {
      return JSON.parse(stdout) as T;
    },
  };
}
