import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Config, Help } from '@oclif/core';
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

/** What `backupctl ID --help` prints, rendered by oclif's Help in this process. */
async function renderHelp(id: string): Promise<string> {
  const config = await Config.load(CLI_DIR);
  const lines: string[] = [];
  class CapturingHelp extends Help {
    protected override log(...args: string[]): void {
      lines.push(args.join(' '));
    }
  }
  const command = config.findCommand(id);
  if (!command) throw new Error(`no command ${id}`);
  await new CapturingHelp(config, { stripAnsi: true }).showCommandHelp(command);
  return lines.join('\n');
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

  /** backupctl's own commands (not those of the oclif plugins: help, version, autocomplete). */
  const ownCommands = async () => (await loadCommands()).filter((c) => c.pluginName === 'backupctl');

  it("oclif's plugins give help, version and completion", async () => {
    const ids = (await loadCommands()).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['help', 'version', 'autocomplete']));
  });

  it('every command takes --json, -q and -v', async () => {
    for (const command of await ownCommands()) {
      expect(command.flags.quiet?.char, command.id).toBe('q');
      expect(command.flags.verbose?.char, command.id).toBe('v');
      expect(Object.keys(command.flags), command.id).toContain('json');
    }
  });

  it('--help of every command shows usage and runnable examples', async () => {
    const commands = await ownCommands();
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
        'schedule:install',
        'schedule:remove',
        'schedule:status',
        'doctor',
      ]),
    );
    // oclif's own help renderer, in-process: one process per command would cost seconds.
    // The test below shows the binary prints the same text.
    for (const command of commands) {
      const id = command.id.replaceAll(':', ' ');
      const text = await renderHelp(command.id);
      expect(text, id).toMatch(/^USAGE$/m);
      const examples = text.split(/^EXAMPLES$/m)[1];
      expect(examples, `${id} --help has no EXAMPLES section`).toBeDefined();
      // Each example is a command line of this very command, with <%= config.bin %> expanded.
      const lines = (examples ?? '').split('\n').filter((l) => l.trim().startsWith('$'));
      expect(lines.length, id).toBeGreaterThanOrEqual(1);
      for (const line of lines) {
        expect(line, id).toContain(`backupctl ${id}`);
        expect(line, id).not.toContain('<%');
      }
    }
  });

  it('the binary prints that help for --help and exits 0', async () => {
    const r = await runCli(['guard', 'replay', '--help'], { env: { COLUMNS: '80' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd()).toBe((await renderHelp('guard:replay')).trimEnd());
  });
});
