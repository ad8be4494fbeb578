// The fast root help of bin/run.js (dist/root-help/render.js) against oclif's own rendering,
// and the build artifacts it depends on (oclif.manifest.json, dist/root-help.json) against
// the commands as they are now.
import { spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Plugin } from '@oclif/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, BIN, cleanEnv } from '../../../test/support/run-backupctl.js';

const CLI = path.dirname(path.dirname(BIN));

/** Prints which oclif modules were loaded: the fast path loads none of @oclif/core/lib. */
const TRACER = `
process.on('exit', () => {
  const n = Object.keys(require.cache).filter((f) => f.includes('@oclif/core/lib')).length;
  process.stderr.write('OCLIF_LIB_MODULES=' + n + '\\n');
});
`;
/** oclif's own rendering: its run() with the same arguments, no fast path in front of it. */
const OCLIF = `
const { run, flush } = await import('@oclif/core');
await run(JSON.parse(process.argv[1]), ${JSON.stringify(pathToFileURL(BIN).href)});
await flush();
`;

let tracer: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  assertBuilt();
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'bk-root-help-'));
  tracer = path.join(dir, 'tracer.cjs');
  await fs.writeFile(tracer, TRACER);
  env = cleanEnv({
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_DATA_HOME: path.join(dir, 'data'),
  });
});

function fast(args: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['-r', tracer, BIN, ...args], {
    env: { ...env, ...extra },
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  return { stdout: r.stdout, oclifModules: Number(/OCLIF_LIB_MODULES=(\d+)/.exec(r.stderr)?.[1]) };
}

function oclif(args: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', OCLIF, JSON.stringify(args)], {
    env: { ...env, ...extra },
    encoding: 'utf8',
    cwd: CLI,
  });
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('the fast root help', () => {
  it.each([
    ['40', '0'],
    ['80', '0'],
    ['132', '0'],
    ['40', '1'],
    ['100', '1'],
  ])(
    '`backupctl --help` at %s columns, FORCE_COLOR=%s, is byte for byte what oclif prints',
    (columns, color) => {
      const extra = { OCLIF_COLUMNS: columns, FORCE_COLOR: color };
      const ours = fast(['--help'], extra);
      expect(ours.oclifModules).toBe(0);
      expect(ours.stdout).toBe(oclif(['--help'], extra));
      expect(ours.stdout).toContain('COMMANDS');
    },
  );

  it.each([[[]], [['-h']], [['help']]])('`backupctl %j` too', (args: string[]) => {
    const ours = fast(args);
    expect(ours.oclifModules).toBe(0);
    expect(ours.stdout).toBe(oclif(args));
  });

  it('leaves every other help to oclif: `backupctl push --help` lists push flags', () => {
    const r = fast(['push', '--help']);
    expect(r.oclifModules).toBeGreaterThan(0);
    expect(r.stdout).toContain('--exclude');
    expect(r.stdout).toBe(oclif(['push', '--help']));
  });

  it('leaves the help to oclif when a user theme exists (oclif would colour it)', async () => {
    const config = path.join(env.XDG_CONFIG_HOME!, 'backupctl');
    await fs.mkdir(config, { recursive: true });
    await fs.writeFile(path.join(config, 'theme.json'), '{}');
    try {
      expect(fast(['--help']).oclifModules).toBeGreaterThan(0);
    } finally {
      await fs.rm(path.join(config, 'theme.json'));
    }
  });

  it('is off when dist/root-help.json no longer matches oclif.manifest.json', async () => {
    const { fastRootHelp } = await import(pathToFileURL(path.join(CLI, 'dist/root-help/render.js')).href);
    expect(fastRootHelp(['--help'], CLI, env)).toContain('USAGE');
    // A copy of the package whose manifest differs by one byte, packages found as before.
    const copy = await fs.mkdtemp(path.join(CLI, '.root-help-test-'));
    try {
      await fs.mkdir(path.join(copy, 'dist'));
      await fs.copyFile(path.join(CLI, 'package.json'), path.join(copy, 'package.json'));
      await fs.copyFile(path.join(CLI, 'dist/root-help.json'), path.join(copy, 'dist/root-help.json'));
      const manifest = readFileSync(path.join(CLI, 'oclif.manifest.json'), 'utf8');
      await fs.writeFile(path.join(copy, 'oclif.manifest.json'), `${manifest} `);
      expect(fastRootHelp(['--help'], copy, env)).toBeUndefined();
      await fs.writeFile(path.join(copy, 'oclif.manifest.json'), manifest);
      expect(fastRootHelp(['--help'], copy, env)).toContain('USAGE');
    } finally {
      await fs.rm(copy, { recursive: true, force: true });
    }
  });
});

describe('the build artifacts are not stale', () => {
  it('oclif.manifest.json lists the commands dist/commands holds, flag for flag', async () => {
    const plugin = new Plugin({
      root: CLI,
      type: 'core',
      isRoot: true,
      ignoreManifest: true,
      errorOnManifestCreate: true,
      respectNoCacheDefault: true,
    });
    await plugin.load();
    const onDisk = JSON.parse(readFileSync(path.join(CLI, 'oclif.manifest.json'), 'utf8'));
    expect(Object.keys(onDisk.commands).sort()).toEqual(Object.keys(plugin.manifest.commands).sort());
    expect(onDisk.commands).toEqual(JSON.parse(JSON.stringify(plugin.manifest.commands)));
  });

  it('dist/root-help.json is what oclif computes now', async () => {
    const { rootHelpData } = await import(pathToFileURL(path.join(CLI, 'dist/root-help/generate.js')).href);
    const onDisk = JSON.parse(readFileSync(path.join(CLI, 'dist/root-help.json'), 'utf8'));
    expect(onDisk).not.toBeNull();
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(await rootHelpData(CLI))));
  });
});
