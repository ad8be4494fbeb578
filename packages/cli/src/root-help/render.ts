// The fast path of `backupctl`, `backupctl --help`, `-h` and `backupctl help`: the root help
// printed from dist/root-help.json without loading oclif and its ~160 modules (about half
// of the start-up time). The layout is oclif's (`Help.showRootHelp`, `HelpFormatter`),
// reproduced line for line with the same text libraries oclif resolves (wrap-ansi,
// string-width, …); packages/cli/test/root-help.test.ts compares it with oclif's own
// output. Anything this does not reproduce (a theme, user plugins, debug output, WSL, a
// stale or missing data file) returns undefined and oclif renders the help as before.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { findPackageJson, ROOT_HELP_FILE, type RootHelpData } from './data.js';

type Wrap = (text: string, columns: number, options: { hard: boolean }) => string;
interface Libs {
  wrapAnsi: Wrap;
  stringWidth: (s: string) => number;
  widestLine: (s: string) => number;
  indentString: (s: string, n: number) => string;
  bold: (s: string) => string;
}

/** The help text for `argv`, or undefined when oclif must render it. `root` is packages/cli. */
export function fastRootHelp(argv: string[], root: string, env = process.env): string | undefined {
  if (argv.length > 1) return;
  if (env.BACKUPCTL_DEBUG || env.DEBUG || env.OCLIF_NEXT_VERSION) return;
  if (process.platform === 'win32' || isWsl()) return;
  let data: RootHelpData | null;
  try {
    data = JSON.parse(readFileSync(path.join(root, ROOT_HELP_FILE), 'utf8'));
  } catch {
    return;
  }
  if (data?.schema !== 1) return;
  const arg = argv[0];
  if (arg !== undefined && arg !== 'help' && !data.helpFlags.includes(arg)) return;
  if (!fresh(data, root)) return;
  const home = env.HOME || os.homedir() || os.tmpdir();
  const dir = (category: 'config' | 'data') =>
    path.join(
      env[`XDG_${category.toUpperCase()}_HOME`] ||
        path.join(home, category === 'data' ? '.local/share' : `.${category}`),
      data.bin,
    );
  // A user theme, or plugins a user installed: oclif's business.
  const themeOff = env.BACKUPCTL_DISABLE_THEME === '1' || env.BACKUPCTL_DISABLE_THEME === 'true';
  if (!themeOff && existsSync(path.join(env.BACKUPCTL_CONFIG_DIR || dir('config'), 'theme.json'))) return;
  if (existsSync(path.join(env.BACKUPCTL_DATA_DIR || dir('data'), 'package.json'))) return;
  const width = Number.parseInt(env.OCLIF_COLUMNS ?? '', 10) || termWidth(process.stdout);
  return render(data, width, libs(root));
}

function isWsl(): boolean {
  if (process.platform !== 'linux') return false;
  if (os.release().toLowerCase().includes('microsoft')) return true;
  try {
    if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return true;
  } catch {}
  return existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL');
}

/** The data matches the manifest oclif would read and the packages installed now. */
function fresh(data: RootHelpData, root: string): boolean {
  try {
    const manifest = readFileSync(path.join(root, 'oclif.manifest.json'));
    if (createHash('sha256').update(manifest).digest('hex') !== data.manifestSha256) return false;
    const pjson = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    if (pjson.version !== data.version || pjson.name !== data.name) return false;
    for (const [name, version] of Object.entries(data.packages)) {
      const file = findPackageJson(root, name);
      if (!file || JSON.parse(readFileSync(file, 'utf8')).version !== version) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** oclif's screen.termwidth. */
function termWidth(stream: NodeJS.WriteStream): number {
  if (!stream.isTTY) return 80;
  const width = stream.getWindowSize()[0];
  if (width < 1) return 80;
  if (width < 40) return 40;
  return width;
}

/** The text libraries as oclif's help formatter resolves them (its own versions). */
function libs(root: string): Libs {
  const cli = createRequire(path.join(root, 'package.json'));
  const req = createRequire(cli.resolve('@oclif/core'));
  const supports = req('supports-color');
  const color = Boolean(supports.stdout) && Boolean(supports.stderr);
  const ansis = req('ansis');
  return {
    wrapAnsi: req('wrap-ansi'),
    stringWidth: req('string-width'),
    widestLine: req('widest-line'),
    indentString: req('indent-string'),
    bold: (s) => (color ? (ansis.default ?? ansis).bold(s) : s),
  };
}

/** Help.showRootHelp with RootHelp.root, formatTopics, formatCommands and HelpFormatter. */
export function render(data: RootHelpData, maxWidth: number, lib: Libs): string {
  const wrap = (body: string, spacing = 2) => lib.wrapAnsi(body, maxWidth - spacing, { hard: true });
  const indent = (body: string, spacing = 2) => lib.indentString(body, spacing);
  const section = (header: string, body: string) => [lib.bold(header), indent(body)].join('\n');
  const renderList = (input: [string, string | undefined][]): string => {
    if (input.length === 0) return '';
    const indentation = 2;
    const renderMultiline = () => {
      let output = '';
      for (const [left, right] of input) {
        if (!left && !right) continue;
        if (left) output += wrap(left.trim(), indentation);
        if (right) {
          output += '\n';
          output += indent(wrap(right.trim(), indentation + 2), 4);
        }
        output += '\n\n';
      }
      return output.trim();
    };
    const maxLength = lib.widestLine(input.map((i) => i[0]).join('\n'));
    let output = '';
    const spacer = '\n';
    let cur = '';
    for (const [left, r] of input) {
      if (cur) {
        output += spacer;
        output += cur;
      }
      cur = left || '';
      if (!r) {
        cur = cur.trim();
        continue;
      }
      const right = wrap(r.trim(), indentation + maxLength + 2);
      const [first, ...lines] = right.split('\n').map((s) => s.trim());
      cur += ' '.repeat(maxLength - lib.stringWidth(cur) + 2);
      cur += first;
      if (lines.length === 0) continue;
      if (lines.length > 4) return renderMultiline();
      cur += '\n';
      cur += indent(lines.join('\n'), maxLength + 2);
    }
    if (cur) {
      output += spacer;
      output += cur;
    }
    return output.trim();
  };
  const platform = process.platform;
  const arch = os.arch() === 'ia32' ? 'x86' : os.arch();
  const userAgent = `${data.name}/${data.version} ${platform}-${arch} node-${process.version}`;
  const root = [
    data.summary,
    section('VERSION', wrap(userAgent)),
    section('USAGE', wrap(`$ ${data.bin} [COMMAND]`)),
    data.description ? section('DESCRIPTION', wrap(data.description)) : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  const out = [root, ''];
  if (data.topics.length > 0) out.push(section('TOPICS', renderList(data.topics)), '');
  if (data.commands.length > 0) out.push(section('COMMANDS', renderList(data.commands)), '');
  return `${out.join('\n')}\n`;
}
