import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * What `backupctl --help` shows, taken from oclif's own configuration at build time
 * (`dist/root-help.json`, written by generate.ts after `oclif manifest`) so that the bare
 * `--help` can be printed without loading oclif (render.ts). Everything here was already
 * rendered by oclif (templates, topic separator, sorting, hidden commands left out).
 */
export interface RootHelpData {
  schema: 1;
  /** The package name and version: `userAgent` is `${name}/${version} ${platform}-${arch} node-${process.version}`. */
  name: string;
  version: string;
  bin: string;
  /** The first line of the package description, and the rest (the DESCRIPTION section) if any. */
  summary: string;
  description: string;
  /** ['--help', '-h']: the arguments that mean help. */
  helpFlags: string[];
  /** [name, description] of the root topics and [id, summary] of the root commands, as oclif lists them. */
  topics: [string, string | undefined][];
  commands: [string, string | undefined][];
  /** SHA-256 of oclif.manifest.json when this was written: a different manifest means stale. */
  manifestSha256: string;
  /** Versions of the packages whose commands or rendering this depends on (@oclif/core and the plugins). */
  packages: Record<string, string>;
}

export const ROOT_HELP_FILE = 'dist/root-help.json';

/**
 * The package.json of `name` as Node finds it from `root` (node_modules folders upwards),
 * read directly: the plugins' `exports` do not list it.
 */
export function findPackageJson(root: string, name: string): string | undefined {
  for (let dir = root; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return file;
    if (path.dirname(dir) === dir) return;
  }
}
