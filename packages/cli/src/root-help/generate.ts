// Build step (`npm run build` in packages/cli, after `oclif manifest`): writes
// dist/root-help.json, the data of the root help as oclif itself computes it, for the fast
// path of bin/run.js (render.ts). Run as `node dist/root-help/generate.js`.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config, Help, type Interfaces } from '@oclif/core';
import { findPackageJson, ROOT_HELP_FILE, type RootHelpData } from './data.js';

type Entry = [string, string | undefined];

/** oclif's Help, recording the lists it renders instead of guessing them. */
class Recorder extends Help {
  lists: { topics?: Entry[]; commands?: Entry[] } = {};
  private current?: 'topics' | 'commands';
  override formatTopics(topics: Interfaces.Topic[]): string {
    this.current = 'topics';
    return super.formatTopics(topics);
  }
  override formatCommands(commands: Parameters<Help['formatCommands']>[0]): string {
    this.current = 'commands';
    return super.formatCommands(commands);
  }
  override renderList(input: (string | undefined)[][], opts: Parameters<Help['renderList']>[1]): string {
    if (this.current) this.lists[this.current] = input.map(([l, r]) => [l ?? '', r]);
    this.current = undefined;
    return super.renderList(input, opts);
  }
  protected override log(): void {}
}

/** The data, or undefined when oclif is configured in a way the fast path does not reproduce. */
export async function rootHelpData(root: string): Promise<RootHelpData | undefined> {
  // Only what the package ships: never plugins a user of the build machine installed.
  const config = await Config.load({ root, userPlugins: false, devPlugins: false });
  const oclif = config.pjson.oclif as Record<string, unknown>;
  // What render.ts does not know how to reproduce: then oclif renders the help itself.
  if (oclif.state || oclif.helpClass || oclif.helpOptions || oclif.theme || config.isSingleCommandCLI) return;
  if (config.topicSeparator !== ' ') return;
  const help = new Recorder(config);
  await help.showHelp([]);
  const description = String((oclif.description as string) || config.pjson.description || '');
  const render = (s: string) => help.render(s);
  const lines = render(description).split('\n');
  const data: RootHelpData = {
    schema: 1,
    name: config.name,
    version: config.version,
    bin: config.bin,
    summary: lines[0] ?? '',
    description: lines.slice(1).join('\n'),
    helpFlags: ['--help', ...((oclif.additionalHelpFlags as string[]) ?? [])],
    topics: help.lists.topics ?? [],
    commands: help.lists.commands ?? [],
    manifestSha256: createHash('sha256')
      .update(readFileSync(path.join(root, 'oclif.manifest.json')))
      .digest('hex'),
    packages: {},
  };
  // Templates are rendered twice by oclif (once per entry, once per section): text that still
  // holds one after the first pass, or ANSI codes, is left to oclif.
  const texts = [data.summary, data.description, ...[...data.topics, ...data.commands].flat()];
  if (texts.some((t) => t && (t.includes('<%') || t.includes('\u001b')))) return;
  for (const name of ['@oclif/core', ...(config.pjson.oclif.plugins ?? [])]) {
    const file = findPackageJson(root, name);
    if (!file) return;
    data.packages[name] = JSON.parse(readFileSync(file, 'utf8')).version;
  }
  return data;
}

const here = path.dirname(fileURLToPath(import.meta.url));
if (process.argv[1] && path.resolve(process.argv[1]) === path.join(here, 'generate.js')) {
  process.env.BACKUPCTL_DISABLE_THEME = '1';
  const root = path.resolve(here, '..', '..');
  const data = await rootHelpData(root);
  const file = path.join(root, ROOT_HELP_FILE);
  // `null`: the fast path stays off and oclif renders every help.
  writeFileSync(file, `${JSON.stringify(data ?? null, null, 2)}\n`);
}
