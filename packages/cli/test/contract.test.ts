import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Config } from '@oclif/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI_DIR, runCli } from './support/cli.js';

/**
 * The command-line contract scripts and systemd units depend on: command ids, flag
 * names, types, defaults, required-ness, arguments, and the exit codes. Descriptions are
 * left out (rewording is not a breaking change). A change here fails the test until the
 * snapshot file is updated on purpose (`npx vitest run --project cli -u`) — in review,
 * the diff of __snapshots__/cli-contract.json shows exactly what changed for users.
 */
interface Contract {
  commands: Record<string, unknown>;
  exitCodes: Record<string, number>;
}

async function loadCommands(): Promise<Config['commands']> {
  const config = await Config.load(CLI_DIR);
  return [...config.commands].sort((a, b) => a.id.localeCompare(b.id));
}

function flagContract(flag: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: flag.type };
  for (const key of ['char', 'required', 'multiple', 'allowNo', 'options', 'dependsOn', 'exclusive']) {
    if (flag[key] !== undefined && flag[key] !== false) out[key] = flag[key];
  }
  if (flag.default !== undefined && typeof flag.default !== 'function') out.default = flag.default;
  return out;
}

beforeAll(() => assertBuilt());

describe('the CLI contract', () => {
  it('matches the committed snapshot of every command, flag, argument and exit code', async () => {
    const commands: Contract['commands'] = {};
    for (const command of await loadCommands()) {
      // The class itself, not oclif's cached view (which drops boolean defaults such as
      // init's --keychain = true).
      const cls = await command.load();
      const flags = { ...cls.baseFlags, ...cls.flags } as Record<string, Record<string, unknown>>;
      const args = (cls.args ?? {}) as Record<string, Record<string, unknown>>;
      commands[command.id.replaceAll(':', ' ')] = {
        strict: cls.strict !== false,
        args: Object.fromEntries(
          Object.entries(args).map(([name, a]) => [name, { required: a.required === true }]),
        ),
        flags: Object.fromEntries(
          Object.keys(flags)
            .sort()
            .map((name) => [name, flagContract(flags[name] as Record<string, unknown>)]),
        ),
      };
    }
    const { ExitCodes } = (await import(pathToFileURL(path.join(CLI_DIR, 'dist', 'exit-codes.js')).href)) as {
      ExitCodes: Record<string, number>;
    };
    const contract: Contract = { commands, exitCodes: { ...ExitCodes } };
    await expect(`${JSON.stringify(contract, null, 2)}\n`).toMatchFileSnapshot(
      './__snapshots__/cli-contract.json',
    );
  });

  it('every command takes --json', async () => {
    for (const command of await loadCommands()) {
      expect(Object.keys(command.flags), command.id).toContain('json');
    }
  });

  it('--help of every command shows usage and runnable examples (exit 0)', async () => {
    const commands = await loadCommands();
    expect(commands.map((c) => c.id)).toEqual(
      expect.arrayContaining([
        'init',
        'push',
        'snapshots',
        'restore',
        'check',
        'status',
        'guard:policy',
        'guard:template',
        'guard:replay',
      ]),
    );
    const results = await Promise.all(
      commands.map(async (command) => {
        const words = command.id.split(':');
        return { words, r: await runCli([...words, '--help']) };
      }),
    );
    for (const { words, r } of results) {
      const id = words.join(' ');
      expect(r.code, `${id} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout, id).toMatch(/^USAGE$/m);
      const examples = r.stdout.split(/^EXAMPLES$/m)[1];
      expect(examples, `${id} --help has no EXAMPLES section`).toBeDefined();
      // Each example is a rendered command line of this very command (the <%= %> expanded).
      const lines = (examples ?? '').split('\n').filter((l) => l.trim().startsWith('$'));
      expect(lines.length, id).toBeGreaterThanOrEqual(1);
      for (const line of lines) {
        expect(line, id).toContain(`backupctl ${id}`);
        expect(line, id).not.toContain('<%');
      }
    }
  });
});
