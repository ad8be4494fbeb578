import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3FaultProxy, startS3FaultProxy } from '../fixtures/s3-fault-proxy.js';
import { type S3Server, startS3Server } from '../fixtures/s3-server.js';
import { assertBuilt, runCli, spawnCli } from '../support/run-backupctl.js';
import { describeTree } from '../support/tree.js';

/**
 * Soak (npm run test:soak; docs/reliability.md): push killed with SIGKILL at random
 * moments, on both backends; after every kill `check --read-data` finds no damage; the
 * next push completes; the last snapshot restores bit for bit; no stale `.tmp/*.part`.
 * Then pushes through a rate of S3 faults. SOAK_ITERATIONS (default 12) per backend.
 */
const ITERATIONS = Number(process.env.SOAK_ITERATIONS ?? 12);
const aws = {
  BACKUPCTL_AWS_ACCESS_KEY_ID: 'S3RVER',
  BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

interface Soak {
  dir: string;
  src: string;
  env: Record<string, string>;
}

async function makeSoak(name: string): Promise<Soak> {
  const dir = await mkdtemp(path.join(tmpdir(), `bk-soak-${name}-`));
  const src = path.join(dir, 'src');
  await mkdir(src, { recursive: true });
  return {
    dir,
    src,
    env: {
      HOME: dir,
      BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
      BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
      BACKUPCTL_PASSWORD: 'soak passphrase',
      BACKUPCTL_HOST: 'soak',
      BACKUPCTL_S3_TIMEOUT_MS: '2000',
      ...aws,
    },
  };
}

/** Changes the source a little each round: new random files, one edited, one removed. */
async function mutate(src: string, round: number): Promise<void> {
  for (let i = 0; i < 3; i++)
    await writeFile(path.join(src, `r${round}-${i}.bin`), randomBytes(700_000 + i * 1000));
  await writeFile(path.join(src, 'edited.txt'), `round ${round} ${randomBytes(8).toString('hex')}`);
  if (round > 1) await rm(path.join(src, `r${round - 2}-0.bin`), { force: true });
}

interface SoakFinding {
  round: number;
  killedAfterMs: number;
  exitedBeforeKill: boolean;
  checkCode: number | null;
  nextPushCode: number | null;
}

async function sigkillRounds(soak: Soak, repoLocal?: string): Promise<SoakFinding[]> {
  const findings: SoakFinding[] = [];
  // How long the last push that ran to its end took: the kill window follows it, so a
  // faster push is still killed mid-way rather than finishing first (4 s until measured).
  let pushMs = 4000;
  for (let round = 0; round < ITERATIONS; round++) {
    await mutate(soak.src, round);
    const running = spawnCli(['push'], { env: soak.env });
    // A random moment from start-up to a little past a whole push: before, during and
    // after uploads (a push that finished first is counted, not killed).
    const delay = Math.floor(Math.random() * pushMs * 1.1);
    await Promise.race([sleep(delay), running.result]);
    const exitedBeforeKill = running.child.exitCode !== null;
    if (!exitedBeforeKill) running.child.kill('SIGKILL');
    await running.result;
    const check = await runCli(['check', '--read-data', '--json'], { env: soak.env });
    const nextStarted = Date.now();
    const next = await runCli(['push'], { env: soak.env });
    // The next push uploads what the killed one did not: about one round's change.
    if (next.code === 0) pushMs = Math.max(200, Date.now() - nextStarted);
    findings.push({
      round,
      killedAfterMs: delay,
      exitedBeforeKill,
      checkCode: check.code,
      nextPushCode: next.code,
    });
    expect(check.code, `round ${round}: ${check.stdout}${check.stderr}`).toBe(0);
    expect(next.code, `round ${round}: ${next.stderr}`).toBe(0);
    if (repoLocal && existsSync(path.join(repoLocal, '.tmp'))) {
      // The next push removed the killed push's temporary files.
      expect(await readdir(path.join(repoLocal, '.tmp')), `round ${round}`).toEqual([]);
    }
    // Nor is a pack the killed push was staging in the cache (S3: cache/<repo>/staging/).
    const cacheDir = soak.env.BACKUPCTL_CACHE_DIR!;
    for (const repoId of existsSync(cacheDir) ? await readdir(cacheDir) : []) {
      const staging = path.join(cacheDir, repoId, 'staging');
      if (existsSync(staging)) expect(await readdir(staging), `round ${round}`).toEqual([]);
    }
  }
  const target = path.join(soak.dir, 'restored');
  const restore = await runCli(['restore', 'latest', '--target', target], { env: soak.env });
  expect(restore.code, restore.stderr).toBe(0);
  expect(await describeTree(path.join(target, soak.src))).toEqual(await describeTree(soak.src));
  return findings;
}

function summarise(name: string, findings: SoakFinding[]): void {
  const killed = findings.filter((f) => !f.exitedBeforeKill).length;
  console.log(
    `soak ${name}: ${findings.length} rounds, ${killed} killed mid-push, all checks 0, all next pushes 0`,
  );
}

describe('soak: push killed at random moments', () => {
  let s3: S3Server;
  beforeAll(async () => {
    assertBuilt();
    s3 = await startS3Server();
    await s3.createBucket('soak');
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it(`local folder: ${ITERATIONS} SIGKILLs`, async () => {
    const soak = await makeSoak('local');
    const repo = path.join(soak.dir, 'repo');
    const init = await runCli(['init', '--repo', repo, '--path', soak.src, '--no-keychain'], {
      env: soak.env,
    });
    expect(init.code, init.stderr).toBe(0);
    summarise('local', await sigkillRounds(soak, repo));
    await rm(soak.dir, { recursive: true, force: true });
  }, 1_800_000);

  it(`S3 (s3rver): ${ITERATIONS} SIGKILLs`, async () => {
    const soak = await makeSoak('s3');
    const init = await runCli(
      ['init', '--repo', 's3://soak/kill', '--endpoint', s3.endpoint, '--path', soak.src, '--no-keychain'],
      { env: soak.env },
    );
    expect(init.code, init.stderr).toBe(0);
    summarise('s3', await sigkillRounds(soak));
    await rm(soak.dir, { recursive: true, force: true });
  }, 1_800_000);

  it(`S3 through ~12% faults (every kind): ${ITERATIONS} pushes complete, check finds nothing`, async () => {
    const proxy: S3FaultProxy = await startS3FaultProxy(s3.endpoint);
    try {
      const soak = await makeSoak('faults');
      const init = await runCli(
        [
          'init',
          '--repo',
          's3://soak/faults',
          '--endpoint',
          proxy.endpoint,
          '--path',
          soak.src,
          '--no-keychain',
        ],
        { env: soak.env },
      );
      expect(init.code, init.stderr).toBe(0);
      const faults = ['500', '503', 'reset', 'no-answer', 'cut-body', 'reset-body'] as const;
      // Co-prime periods: about 12% of all requests fail, each kind about 2%.
      const periods = [41, 43, 47, 53, 59, 61];
      for (const [i, fault] of faults.entries()) proxy.add({ fault, every: periods[i]! });
      const hashes = new Set<string>();
      for (let round = 0; round < ITERATIONS; round++) {
        await mutate(soak.src, round);
        const push = await runCli(['push', '--json'], { env: soak.env });
        expect(push.code, `round ${round}: ${push.stdout}${push.stderr}`).toBe(0);
        hashes.add(createHash('sha256').update(push.stdout).digest('hex'));
      }
      proxy.clear();
      const check = await runCli(['check', '--read-data'], { env: soak.env });
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect(Object.values(proxy.injected).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      console.log(`soak faults: ${ITERATIONS} pushes, injected ${JSON.stringify(proxy.injected)}`);
      await rm(soak.dir, { recursive: true, force: true });
    } finally {
      await proxy.stop();
    }
  }, 1_800_000);
});
