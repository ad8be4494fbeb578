/**
 * Every `backupctl …` command and flag that user-facing text names exists: CLI messages
 * and help (the sources of all packages), the quarantine Lambda's e-mail (its inline
 * source is in packages/stack/src), README, docs and examples — checked against the oclif
 * manifest of the built CLI, which lists every command and its flags.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertBuilt, ROOT } from './support/run-backupctl.js';

interface Manifest {
  commands: Record<string, { flags: Record<string, { allowNo?: boolean; char?: string }> }>;
}

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'test' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (
      /\.(ts|md|mjs|js|service|timer|txt|json)$/.test(name) &&
      !name.endsWith('.test.ts') &&
      name !== 'package.json' &&
      name !== 'oclif.manifest.json'
    )
      out.push(p);
  }
  return out;
}

interface Mention {
  file: string;
  text: string;
  command: string | undefined;
  /** The word after a topic (`guard deploy`): a subcommand that does not exist. */
  unknownSubcommand?: string;
  flags: string[];
  codeLike: boolean;
}

/** The `backupctl …` mentions of a text: the words after it, its flags, whether it reads as a command line. */
function mentions(file: string, text: string, topics: Set<string>, ids: Set<string>): Mention[] {
  const out: Mention[] = [];
  const re =
    /backupctl((?:[ \t]+(?:--?[a-z][\w-]*(?:=[^\s`'"),;]*)?|[a-z][a-z-]*|<[^>]*>|[A-Z0-9_.…/~:=-]+|\[[^\]]*\]|'[^']*'|"[^"]*"|\.\.\.))*)/g;
  for (const m of text.matchAll(re)) {
    const before = text.slice(Math.max(0, (m.index ?? 0) - 3), m.index);
    const line = text.slice(text.lastIndexOf('\n', m.index ?? 0) + 1, m.index);
    const codeLike =
      /`$/.test(before) ||
      /^\s*(?:\$\s*|#\s*|[-*]\s+|\d\.\s+|['"]\s*)?$/.test(line) ||
      /(run|Run|with|then|:)\s+$/.test(before + ' '.repeat(0)) ||
      /\brun\s+$/i.test(line);
    const tokens = (m[1] ?? '')
      .trim()
      .split(/[ \t]+/)
      .filter(Boolean);
    const words: string[] = [];
    for (const t of tokens) {
      if (!/^[a-z][a-z-]*$/.test(t)) break;
      words.push(t);
    }
    let command: string | undefined;
    let used = 0;
    for (let n = words.length; n > 0; n--) {
      const id = words.slice(0, n).join(':');
      if (ids.has(id) || topics.has(id)) {
        command = id;
        used = n;
        break;
      }
    }
    const unknownSubcommand = command !== undefined && topics.has(command) ? words[used] : undefined;
    const flags = tokens
      .filter((t) => t.startsWith('--'))
      .map((t) => t.replace(/=.*$/, '').replace(/[.,;:)]+$/, ''));
    if (words.length === 0 && flags.length === 0) continue;
    out.push({
      file: path.relative(ROOT, file),
      text: `backupctl ${tokens.join(' ')}`.trim(),
      command,
      ...(unknownSubcommand ? { unknownSubcommand } : {}),
      flags,
      codeLike,
    });
  }
  return out;
}

describe('every backupctl command or flag named in user-facing text exists', () => {
  it('CLI messages, the Lambda e-mail, README, docs, examples', () => {
    assertBuilt();
    const manifest = JSON.parse(
      readFileSync(path.join(ROOT, 'packages/cli/oclif.manifest.json'), 'utf8'),
    ) as Manifest;
    const ids = new Set(Object.keys(manifest.commands));
    const topics = new Set([...ids].filter((id) => id.includes(':')).map((id) => id.split(':')[0]!));
    const sources = [
      ...files(path.join(ROOT, 'packages/cli/src')),
      ...files(path.join(ROOT, 'packages/core/src')),
      ...files(path.join(ROOT, 'packages/stack/src')),
      ...files(path.join(ROOT, 'docs')),
      ...files(path.join(ROOT, 'examples')),
      path.join(ROOT, 'README.md'),
    ];
    const problems: string[] = [];
    let checked = 0;
    const seen = new Set<string>();
    for (const file of sources) {
      for (const m of mentions(file, readFileSync(file, 'utf8'), topics, ids)) {
        if (m.command === undefined) {
          // Prose ("backupctl's guard", "backupctl made no call") is not a command line;
          // `backupctl --help` (the root help) is one, and exists.
          const rootHelp = m.text === 'backupctl --help';
          if (m.codeLike && m.flags.length > 0 && !rootHelp)
            problems.push(`${m.file}: "${m.text}": no such command`);
          continue;
        }
        checked++;
        seen.add(m.command);
        if (m.unknownSubcommand && m.codeLike)
          problems.push(`${m.file}: "${m.text}": no command ${m.command} ${m.unknownSubcommand}`);
        const cmd = manifest.commands[m.command];
        if (!cmd) continue; // a topic: `backupctl guard …`
        for (const flag of m.flags) {
          const name = flag.slice(2);
          const ok =
            name in cmd.flags ||
            name === 'help' ||
            (name.startsWith('no-') && cmd.flags[name.slice(3)]?.allowNo === true);
          if (!ok) problems.push(`${m.file}: "${m.text}": ${m.command.replace(':', ' ')} has no ${flag}`);
        }
      }
    }
    expect(problems).toEqual([]);
    // The check sees the commands the recovery texts name.
    expect(checked).toBeGreaterThan(20);
    for (const id of ['init', 'recover', 'status', 'push']) expect(seen).toContain(id);
  });

  it('catches a flag or command that does not exist', () => {
    const ids = new Set(['init', 'recover', 'guard:status']);
    const found = mentions(
      'x.md',
      'Run `backupctl init --create-trail` or `backupctl recover --user laptop`, then `backupctl guard deploy`.',
      new Set(['guard']),
      ids,
    );
    expect(found.map((m) => [m.command, m.flags, m.unknownSubcommand])).toEqual([
      ['init', ['--create-trail'], undefined],
      ['recover', ['--user'], undefined],
      ['guard', [], 'deploy'],
    ]);
  });
});
