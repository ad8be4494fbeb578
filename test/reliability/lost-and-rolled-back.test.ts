import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '../fixtures/s3-server.js';
import { assertBuilt, type CliResult, runCli } from '../support/run-backupctl.js';

/**
 * Issue 11, items 3 and 5, through the real binary on a local folder and on s3rver: an index
 * file deleted (the data it listed is found from the pack headers; `check` names the packs;
 * `repair index` saves a new index, deleting nothing), and a snapshot replaced by an older
 * valid one under its newer name (a rollback: rejected, named in human output, in `--json`,
 * and by `check`).
 */

/** The repository's objects as the test (the "thief" or the accident) sees them. */
interface Objects {
  list(prefix: string): Promise<string[]>;
  get(key: string): Promise<Buffer>;
  put(key: string, bytes: Buffer): Promise<void>;
  remove(key: string): Promise<void>;
}

function localObjects(dir: string): Objects {
  const walk = async (rel: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) out.push(...(await walk(r)));
      else out.push(r);
    }
    return out;
  };
  return {
    list: async (prefix) => (await walk(prefix.replace(/\/$/, ''))).sort(),
    get: (key) => readFile(path.join(dir, key)),
    put: (key, bytes) => writeFile(path.join(dir, key), bytes),
    remove: (key) => rm(path.join(dir, key)),
  };
}

function s3Objects(client: S3Client, bucket: string, prefix: string): Objects {
  return {
    async list(sub) {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/${sub}` }));
      return (out.Contents ?? []).map((o) => o.Key!.slice(prefix.length + 1)).sort();
    },
    async get(key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}` }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    async put(key, bytes) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}`, Body: bytes }));
    },
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}` }));
    },
  };
}

const aws = {
  BACKUPCTL_AWS_ACCESS_KEY_ID: 'S3RVER',
  BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
};

interface Device {
  dir: string;
  src: string;
  objects: Objects;
  run(args: string[]): Promise<CliResult>;
}

let s3: S3Server;
let client: S3Client;
let root: string;
let n = 0;
beforeAll(async () => {
  assertBuilt();
  root = await mkdtemp(path.join(tmpdir(), 'bk-lost-'));
  s3 = await startS3Server();
  await s3.createBucket('lost');
  client = s3.client();
});
afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  await rm(root, { recursive: true, force: true });
});

async function device(backend: 'local' | 's3'): Promise<Device> {
  const dir = path.join(root, `dev-${n++}`);
  const src = path.join(dir, 'src');
  await mkdir(path.join(src, 'sub'), { recursive: true });
  const env = {
    HOME: dir,
    BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
    BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
    BACKUPCTL_PASSWORD: 'lost and rolled back',
    BACKUPCTL_HOST: 'test-host',
    ...(backend === 's3' ? aws : {}),
  };
  const run = (args: string[]) => runCli(args, { env });
  const prefix = `dev-${n}`;
  const repoArgs =
    backend === 'local'
      ? ['--repo', path.join(dir, 'repo')]
      : ['--repo', `s3://lost/${prefix}`, '--endpoint', s3.endpoint];
  const init = await run(['init', ...repoArgs, '--path', src, '--no-keychain', '--json']);
  expect(init.code, init.stderr).toBe(0);
  const objects =
    backend === 'local' ? localObjects(path.join(dir, 'repo')) : s3Objects(client, 'lost', prefix);
  return { dir, src, objects, run };
}

for (const backend of ['local', 's3'] as const) {
  describe(`on ${backend === 'local' ? 'a local folder' : 's3rver'}`, () => {
    it('a deleted index: restore finds the data from the pack headers, check names the packs, repair index saves a new index and deletes nothing', async () => {
      const d = await device(backend);
      const first = randomBytes(700_000);
      await writeFile(path.join(d.src, 'first.bin'), first);
      expect((await d.run(['push'])).code).toBe(0);
      const packsOfFirst = (await d.objects.list('data/')).map((k) => k.slice(k.lastIndexOf('/') + 1)).sort();
      const [firstIndex] = await d.objects.list('index/');
      expect(firstIndex).toBeDefined();
      await writeFile(path.join(d.src, 'sub', 'second.txt'), 'second push\n');
      expect((await d.run(['push'])).code).toBe(0);
      await d.objects.remove(firstIndex!);
      // A fresh machine: no cached copy of the deleted index.
      await rm(path.join(d.dir, 'cache'), { recursive: true, force: true });
      const before = await d.objects.list('');

      const check = await d.run(['check', '--json']);
      expect(check.code, check.stdout + check.stderr).toBe(25);
      const found = check.json<{
        unindexedPackIds: string[];
        problems: Array<{ kind: string; message: string }>;
      }>();
      expect(found.unindexedPackIds).toEqual(packsOfFirst);
      const problem = found.problems.find((p) => p.kind === 'unindexed-data');
      for (const id of packsOfFirst) expect(problem?.message).toContain(id);
      expect(problem?.message).toContain('backupctl repair index');
      const human = await d.run(['check']);
      expect(human.code).toBe(25);
      expect(human.stdout).toContain(packsOfFirst[0]!);

      const out = path.join(d.dir, 'out');
      const restore = await d.run(['restore', 'latest', '--target', out]);
      expect(restore.code, restore.stderr).toBe(0);
      expect((await readFile(path.join(out, d.src, 'first.bin'))).equals(first)).toBe(true);

      const dry = await d.run(['repair', 'index', '--dry-run', '--json']);
      expect(dry.code, dry.stderr).toBe(0);
      const planned = dry.json<{ packs: Array<{ id: string; blobs: number }>; dryRun: boolean }>();
      expect(planned.dryRun).toBe(true);
      expect(planned.packs.map((p) => p.id)).toEqual(packsOfFirst);
      expect(await d.objects.list('')).toEqual(before);

      const repair = await d.run(['repair', 'index', '--json']);
      expect(repair.code, repair.stderr).toBe(0);
      const saved = repair.json<{ indexId: string; packs: Array<{ id: string }> }>();
      expect(saved.packs.map((p) => p.id)).toEqual(packsOfFirst);
      const after = await d.objects.list('');
      // Only added: every object that was there still is, plus one new index file.
      expect(after.filter((k) => !before.includes(k))).toEqual([`index/${saved.indexId}`]);
      expect(before.every((k) => after.includes(k))).toBe(true);

      await rm(path.join(d.dir, 'cache'), { recursive: true, force: true });
      const clean = await d.run(['check', '--read-data', '--json']);
      expect(clean.code, clean.stdout + clean.stderr).toBe(0);
      expect(clean.json<{ unindexedPackIds: string[] }>().unindexedPackIds).toEqual([]);
      const again = await d.run(['repair', 'index']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('nothing to repair');
    });

    it('an older snapshot under the newer name: restore latest gives the newest that authenticates and says so (human and --json); check exits 25 naming it', async () => {
      const d = await device(backend);
      await writeFile(path.join(d.src, 'v.txt'), 'version 1\n');
      expect((await d.run(['push'])).code).toBe(0);
      await writeFile(path.join(d.src, 'v.txt'), 'version 2\n');
      expect((await d.run(['push'])).code).toBe(0);
      await writeFile(path.join(d.src, 'v.txt'), 'version 3\n');
      expect((await d.run(['push'])).code).toBe(0);
      const list = (await d.run(['snapshots', '--json'])).json<Array<{ id: string; time: string }>>();
      const byTime = [...list].sort((a, b) => a.time.localeCompare(b.time));
      const [v1, , v3] = byTime.map((s) => `snapshots/${s.id}`);
      // The thief (or a bad copy) puts version 1 under version 3's name.
      await d.objects.put(v3!, await d.objects.get(v1!));
      await rm(path.join(d.dir, 'cache'), { recursive: true, force: true });

      const out = path.join(d.dir, 'out');
      const human = await d.run(['restore', 'latest', '--target', out]);
      expect(human.code, human.stderr).toBe(0);
      expect(await readFile(path.join(out, d.src, 'v.txt'), 'utf8')).toBe('version 2\n');
      expect(human.stderr).toContain(`warning: ${v3} fails authentication`);
      expect(human.stderr).toContain('an older snapshot put under a newer name');
      expect(human.stdout).toMatch(
        new RegExp(`WARNING: 1 object\\(s\\) failed authentication .*${v3}.*newest one that authenticates`),
      );

      const json = await d.run(['restore', 'latest', '--target', `${out}-json`, '--json']);
      expect(json.code, json.stderr).toBe(0);
      const result = json.json<{ rejectedObjects: Array<{ key: string; kind: string; reason: string }> }>();
      expect(result.rejectedObjects).toEqual([
        { key: v3, kind: 'snapshot', reason: expect.stringContaining('do not match its name') },
      ]);

      const check = await d.run(['check', '--json']);
      expect(check.code).toBe(25);
      const problems = check.json<{ problems: Array<{ kind: string; key?: string }> }>().problems;
      expect(problems).toContainEqual(expect.objectContaining({ kind: 'rejected-object', key: v3 }));
      const checkHuman = await d.run(['check']);
      expect(checkHuman.code).toBe(25);
      expect(checkHuman.stdout).toContain(v3);
    });
  });
}
