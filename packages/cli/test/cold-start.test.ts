import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { assertBuilt, BIN, cleanEnv } from '../../../test/support/run-backupctl.js';

/** A preload that records every module loaded from node_modules/@aws-sdk (the SDK is CommonJS). */
const TRACER = `
const Module = require('node:module');
const load = Module._load;
const seen = new Set();
Module._load = function (request, parent, ...rest) {
  if (String(request).includes('@aws-sdk')) seen.add(String(request));
  return load.call(this, request, parent, ...rest);
};
process.on('exit', () => process.stderr.write('AWS_SDK_MODULES=' + seen.size + '\\n'));
`;

let env: NodeJS.ProcessEnv;
let tracer: string;

beforeAll(async () => {
  assertBuilt();
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'bk-cold-'));
  tracer = path.join(dir, 'tracer.cjs');
  await fs.writeFile(tracer, TRACER);
  await fs.mkdir(path.join(dir, 'src'));
  await fs.writeFile(path.join(dir, 'src', 'a.txt'), 'a');
  env = cleanEnv({
    BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
    BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
    BACKUPCTL_PASSWORD: 'cold-start-passphrase',
  });
  for (const args of [
    ['init', '--repo', path.join(dir, 'repo'), '--no-keychain', '--path', path.join(dir, 'src')],
    ['push'],
  ]) {
    expect(spawnSync(process.execPath, [BIN, ...args], { env }).status).toBe(0);
  }
});

it.each([['status'], ['snapshots'], ['--help'], ['help']])(
  '`backupctl %s` on a local repository never loads the AWS SDK',
  (command) => {
    const run = spawnSync(process.execPath, ['-r', tracer, BIN, command], { env, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).toContain('AWS_SDK_MODULES=0');
  },
);

it('`backupctl doctor` without --admin-profile on a local repository never loads the AWS SDK', () => {
  const run = spawnSync(process.execPath, ['-r', tracer, BIN, 'doctor'], { env, encoding: 'utf8' });
  // Its exit code says what it found (a missing timer, say); only what it loaded is asserted.
  expect(run.stdout).toContain('config');
  expect(run.stderr).toContain('AWS_SDK_MODULES=0');
});

it('the tracer does see the SDK when a command needs it (the test can fail)', () => {
  const run = spawnSync(process.execPath, ['-r', tracer, '-e', "require('@aws-sdk/client-s3')"], {
    env,
    encoding: 'utf8',
    cwd: path.dirname(BIN),
  });
  expect(run.stderr).not.toContain('AWS_SDK_MODULES=0');
});
