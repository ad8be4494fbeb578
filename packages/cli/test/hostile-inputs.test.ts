import { readdirSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, type Device, makeDevice, PASSWORD } from './support/cli.js';

/**
 * Hostile inputs (issue 11, item 12 and the suite): each one gives its message and its
 * documented exit code — never a stack trace, never an "INTERNAL" error, never a folder
 * created where none was asked for.
 */
interface Case {
  name: string;
  args: string[];
  /** Prepares the device (e.g. a broken config.json); runs before the command. */
  setup?: (d: Ctx) => Promise<void>;
  env?: Record<string, string | undefined>;
  code: number;
  stderr: RegExp;
  /** Text that must not appear (harmful advice). */
  not?: RegExp;
}

interface Ctx {
  device: Device;
  src: string;
  repo: string;
  configFile: string;
  /** The config init wrote, to derive broken ones from. */
  config: Record<string, unknown>;
}

const deviceConfig = (change: Record<string, unknown>) => async (c: Ctx) => {
  await writeFile(c.configFile, JSON.stringify({ ...c.config, ...change }));
};
const rawConfig = (text: string) => async (c: Ctx) => {
  await writeFile(c.configFile, text);
};
const inRepo = (fn: (repo: string) => Promise<void>) => (c: Ctx) => fn(c.repo);
const firstIn = (dir: string) => path.join(dir, readdirSync(dir).sort()[0]!);

const cases: Case[] = [
  // Repository locations that must never become a local folder.
  {
    name: 'init --repo ""',
    args: ['init', '--repo', '', '--no-keychain'],
    code: 2,
    stderr: /repository location is empty/,
  },
  {
    name: 'init --repo "  "',
    args: ['init', '--repo', '  ', '--no-keychain'],
    code: 2,
    stderr: /repository location is empty/,
  },
  {
    name: 'init --repo ftp://',
    args: ['init', '--repo', 'ftp://host/x', '--no-keychain'],
    code: 2,
    stderr: /unsupported repository location ftp:\/\/host\/x/,
  },
  {
    name: 'init --repo S3://',
    args: ['init', '--repo', 'S3://bucket/x', '--no-keychain'],
    code: 2,
    stderr: /lower case: s3:\/\/bucket\/x/,
  },
  {
    name: 'init --repo HTTPS://',
    args: ['init', '--repo', 'HTTPS://host/x', '--no-keychain'],
    code: 2,
    stderr: /unsupported repository location/,
  },
  {
    name: 'init --repo file://',
    args: ['init', '--repo', 'file:///tmp/x', '--no-keychain'],
    code: 2,
    stderr: /unsupported repository location/,
  },
  {
    name: 'init --repo sftp://',
    args: ['init', '--repo', 'sftp://u@h/x', '--no-keychain'],
    code: 2,
    stderr: /unsupported repository location/,
  },
  {
    name: 'init --repo s3://bucket',
    args: ['init', '--repo', 's3://bucket', '--no-keychain'],
    code: 2,
    stderr: /on AWS a device's repository is always s3:\/\/BUCKET\/devices\/DEVICE\//,
  },
  {
    name: 'init --repo s3://',
    args: ['init', '--repo', 's3://', '--no-keychain'],
    code: 2,
    stderr: /s3:\/\/: on AWS a device's repository is always/,
  },
  { name: 'init without --repo', args: ['init', '--no-keychain'], code: 2, stderr: /repo/ },
  {
    name: 'init with an unknown flag',
    args: ['init', '--repo', '/tmp/x', '--frobnicate'],
    code: 2,
    stderr: /frobnicate|Nonexistent flag/i,
  },
  // Paths to push.
  { name: 'push ""', args: ['push', ''], code: 2, stderr: /not a path: ""/ },
  { name: 'push "   "', args: ['push', '   '], code: 2, stderr: /not a path/ },
  {
    name: 'push a missing path',
    args: ['push', '/nonexistent/backupctl-test'],
    code: 1,
    stderr: /does not exist/,
  },
  { name: 'push /proc (kernel file system)', args: ['push', '/proc'], code: 3, stderr: /kernel file system/ },
  { name: 'push /sys/kernel', args: ['push', '/sys/kernel'], code: 3, stderr: /kernel file system/ },
  {
    name: 'push /proc/self/status (a file on proc)',
    args: ['push', '/proc/self/status'],
    code: 3,
    stderr: /kernel file system/,
  },
  { name: 'push /dev/null (a device)', args: ['push', '/dev/null'], code: 0, stderr: /^/ },
  // The device config (config.json).
  {
    name: 'config: "excludes": "*"',
    args: ['push'],
    setup: deviceConfig({ excludes: '*' }),
    code: 28,
    stderr: /excludes: must be a list of glob patterns.*not the string "\*"/,
  },
  {
    name: 'config: "paths" a string',
    args: ['push'],
    setup: deviceConfig({ paths: '/home' }),
    code: 28,
    stderr: /paths: must be a list of paths/,
  },
  {
    name: 'config: a path is a number',
    args: ['push'],
    setup: deviceConfig({ paths: [42] }),
    code: 28,
    stderr: /paths\.0/,
  },
  {
    name: 'config: an empty exclude',
    args: ['push'],
    setup: deviceConfig({ excludes: [''] }),
    code: 28,
    stderr: /excludes\.0: an entry is empty/,
  },
  {
    name: 'config: not JSON',
    args: ['push'],
    setup: rawConfig('{"version": 1,'),
    code: 28,
    stderr: /is not valid JSON/,
  },
  {
    name: 'config: empty file',
    args: ['snapshots'],
    setup: rawConfig(''),
    code: 28,
    stderr: /is not valid JSON/,
  },
  {
    name: 'config: a list',
    args: ['snapshots'],
    setup: rawConfig('[]'),
    code: 28,
    stderr: /must be a JSON object/,
  },
  {
    name: 'config: null',
    args: ['snapshots'],
    setup: rawConfig('null'),
    code: 28,
    stderr: /must be a JSON object/,
  },
  {
    name: 'config: a byte-order mark',
    args: ['snapshots'],
    setup: rawConfig('\ufeff{}'),
    code: 28,
    stderr: /config/,
  },
  {
    name: 'config: version 2',
    args: ['snapshots'],
    setup: deviceConfig({ version: 2 }),
    code: 28,
    stderr: /version: must be 1/,
  },
  {
    name: 'config: a misspelt field',
    args: ['snapshots'],
    setup: deviceConfig({ exclude: ['x'] }),
    code: 28,
    stderr: /unknown field "exclude"/,
  },
  {
    name: 'config: passwordSource "file"',
    args: ['snapshots'],
    setup: deviceConfig({ passwordSource: 'file' }),
    code: 28,
    stderr: /passwordSource: must be "keychain" or "environment"/,
  },
  {
    name: 'config: repository ""',
    args: ['snapshots'],
    setup: deviceConfig({ repository: '' }),
    code: 28,
    stderr: /repository: must be a folder or s3/,
  },
  {
    name: 'config: repository 42',
    args: ['snapshots'],
    setup: deviceConfig({ repository: 42 }),
    code: 28,
    stderr: /repository: must be/,
  },
  {
    name: 'config: repository ftp://',
    args: ['snapshots'],
    setup: deviceConfig({ repository: 'ftp://h/x' }),
    code: 2,
    stderr: /unsupported repository location/,
  },
  {
    name: 'config: endpoint not a URL',
    args: ['snapshots'],
    setup: deviceConfig({ endpoint: 'localhost' }),
    code: 28,
    stderr: /endpoint: must be a URL/,
  },
  {
    name: 'config: two wrong fields, both named',
    args: ['snapshots'],
    setup: deviceConfig({ paths: 'x', excludes: 'y' }),
    code: 28,
    stderr: /paths: .*excludes: /s,
  },
  {
    name: 'no device config',
    args: ['snapshots'],
    setup: async (c) => rm(c.configFile),
    code: 10,
    stderr: /not set up/,
  },
  // Passphrases.
  {
    name: 'a wrong passphrase',
    args: ['snapshots'],
    env: { BACKUPCTL_PASSWORD: 'wrong' },
    code: 12,
    stderr: /passphrase does not open/,
  },
  {
    name: 'no passphrase, no terminal',
    args: ['snapshots'],
    env: { BACKUPCTL_PASSWORD: undefined },
    code: 12,
    stderr: /passphrase/,
  },
  // Snapshots and restore.
  {
    name: 'restore an unknown snapshot',
    args: ['restore', 'ffffffff', '--target', '/tmp/none'],
    code: 1,
    stderr: /no snapshot ffffffff/,
  },
  {
    name: 'restore a 2-character id',
    args: ['restore', 'ab', '--target', '/tmp/none'],
    code: 1,
    stderr: /no snapshot ab/,
  },
  { name: 'restore without --target', args: ['restore', 'latest'], code: 2, stderr: /target/ },
  {
    name: 'check with an unknown flag',
    args: ['check', '--read-everything'],
    code: 2,
    stderr: /read-everything|Nonexistent flag/i,
  },
  {
    name: 'BACKUPCTL_S3_TIMEOUT_MS not a number (ignored)',
    args: ['snapshots'],
    env: { BACKUPCTL_S3_TIMEOUT_MS: 'soon' },
    code: 0,
    stderr: /^/,
  },
  // A damaged repository: named, never advised away with `init`.
  {
    name: 'repository config lost',
    args: ['snapshots'],
    setup: inRepo((r) => rm(path.join(r, 'config'))),
    code: 25,
    stderr: /lost its `config`.*\n.*backupctl repair config/,
    not: /Create one with|backupctl init/,
  },
  {
    name: 'init over a repository that lost its config',
    args: ['init', '--repo', '<repo>', '--no-keychain'],
    setup: inRepo((r) => rm(path.join(r, 'config'))),
    code: 25,
    stderr: /lost its `config`.*\n.*backupctl repair config.*Do not create a new repository here/,
  },
  {
    name: 'repository config not JSON',
    args: ['snapshots'],
    setup: inRepo((r) => writeFile(path.join(r, 'config'), '{')),
    code: 25,
    stderr: /repository config .* is not valid JSON/,
    not: /backupctl init/,
  },
  {
    name: 'repository config of version 9',
    args: ['snapshots'],
    setup: inRepo((r) => writeFile(path.join(r, 'config'), '{"version":9}')),
    code: 1,
    stderr: /version 9 is not supported/,
  },
  {
    name: 'a foreign key file',
    args: ['snapshots'],
    setup: inRepo((r) => writeFile(path.join(r, 'keys', '0'.repeat(64)), 'garbage')),
    code: 0,
    stderr: /^/,
  },
  {
    name: 'the only key file garbage',
    args: ['snapshots'],
    setup: inRepo(async (r) => writeFile(firstIn(path.join(r, 'keys')), 'garbage')),
    code: 1,
    stderr: /no usable key file/,
  },
  {
    name: 'a foreign index file: check names it',
    args: ['check'],
    setup: inRepo((r) => writeFile(path.join(r, 'index', 'f'.repeat(64)), 'garbage')),
    code: 25,
    stderr: /^/,
  },
  {
    name: 'a foreign snapshot: snapshots still lists the others',
    args: ['snapshots'],
    setup: inRepo((r) => writeFile(path.join(r, 'snapshots', 'e'.repeat(64)), 'garbage')),
    code: 0,
    stderr: /^/,
  },
  {
    name: 'repair config when the config is there',
    args: ['repair', 'config'],
    code: 1,
    stderr: /has its config: nothing to repair/,
  },
  {
    name: 'repair config with a wrong passphrase',
    args: ['repair', 'config'],
    env: { BACKUPCTL_PASSWORD: 'wrong' },
    setup: inRepo((r) => rm(path.join(r, 'config'))),
    code: 12,
    stderr: /opens none of the 1 key file/,
  },
  {
    name: 'repair config of an empty folder',
    args: ['repair', 'config', '--repo', '/tmp'],
    code: 10,
    stderr: /no key file/,
  },
  {
    name: 'guard replay with a broken pattern',
    args: ['guard', 'replay', '/dev/null', '--pattern', '{ ($.eventName = '],
    code: 2,
    stderr: /pattern/i,
  },
  {
    name: 'guard replay of a missing file',
    args: ['guard', 'replay', '/nonexistent/trail.json'],
    code: 1,
    stderr: /does not exist|nonexistent/,
  },
  {
    name: 'the cache folder is a file',
    args: ['push'],
    env: { BACKUPCTL_CACHE_DIR: '/etc/hostname' },
    code: 2,
    stderr: /not what was expected|not a directory/i,
  },
];

describe('hostile inputs: each has its message and exit code', () => {
  beforeAll(() => assertBuilt());
  it('has at least 50 cases', () => expect(cases.length).toBeGreaterThanOrEqual(50));

  let ctx: Ctx;
  beforeAll(async () => {
    const device = await makeDevice();
    const src = path.join(device.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'a.txt'), 'a');
    ctx = { device, src, repo: '', configFile: '', config: {} };
  });
  afterAll(() => ctx?.device.remove());

  let template: { repo: string; config: Record<string, unknown> };
  beforeAll(async () => {
    const { device, src } = ctx;
    const repo = path.join(device.dir, 'template-repo');
    const env = { BACKUPCTL_CONFIG_DIR: path.join(device.dir, 'template-config') };
    const init = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain'], env);
    expect(init.code, init.stderr).toBe(0);
    const push = await device.run(['push'], env);
    expect(push.code, push.stderr).toBe(0);
    template = {
      repo,
      config: JSON.parse(await readFile(path.join(device.dir, 'template-config', 'config.json'), 'utf8')),
    };
  });

  /**
   * A fresh copy of the repository and device config for each case (cases damage them).
   * `init` cases run on a new device (no config yet): on a set-up one init refuses first.
   */
  async function freshDevice(i: number, newDevice: boolean): Promise<void> {
    const repo = path.join(ctx.device.dir, `repo-${i}`);
    await cp(template.repo, repo, { recursive: true });
    const configDir = path.join(ctx.device.dir, `config-${i}`);
    await mkdir(configDir, { recursive: true });
    ctx.repo = repo;
    ctx.configFile = path.join(configDir, 'config.json');
    ctx.config = { ...template.config, repository: repo };
    if (!newDevice) await writeFile(ctx.configFile, JSON.stringify(ctx.config));
  }

  cases.forEach((c, i) => {
    it(`${c.name} → exit ${c.code}`, async () => {
      await freshDevice(i, c.args[0] === 'init');
      await c.setup?.(ctx);
      const args = c.args.map((a) => (a === '<repo>' ? ctx.repo : a));
      const cwd = path.join(ctx.device.dir, `cwd-${i}`);
      await mkdir(cwd);
      const result = await ctx.device.run(
        args,
        { BACKUPCTL_CONFIG_DIR: path.dirname(ctx.configFile), PASSWORD_UNUSED: PASSWORD, ...c.env },
        { cwd },
      );
      expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(c.code);
      expect(result.stderr).toMatch(c.stderr);
      if (c.not) expect(result.stderr).not.toMatch(c.not);
      expect(result.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
      expect(result.stderr).not.toMatch(/INTERNAL|TypeError|SyntaxError|Unhandled/);
      // Nothing was created in the working folder (an empty or URL-like repository).
      expect(readdirSync(cwd)).toEqual([]);
    });
  });
});
