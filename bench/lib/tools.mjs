// One adapter per tool and location. Each knows how to initialise its target, back up a
// dataset (a folder), restore it, and measure what its target holds.
import { existsSync, promises as fs, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { duFiles } from './data.mjs';
import { timed } from './exec.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const BACKUPCTL_BIN = path.join(repoRoot, 'packages', 'cli', 'bin', 'run.js');
export const PASSWORD = 'bench passphrase, not secret';

/** The environment every tool starts from: no user config, no proxies, no AWS profile. */
export function baseEnv(work) {
  const empty = path.join(work, 'empty-config');
  if (!existsSync(empty)) writeFileSync(empty, '');
  const env = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'TZ']) if (process.env[k]) env[k] = process.env[k];
  return { ...env, AWS_CONFIG_FILE: empty, AWS_SHARED_CREDENTIALS_FILE: empty, RCLONE_CONFIG: empty };
}

// The peers read AWS_*; backupctl reads only its own device-key variables.
const s3Keys = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  BACKUPCTL_AWS_ACCESS_KEY_ID: 'S3RVER',
  BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'S3RVER',
};

function lastJsonLine(text, pred) {
  const lines = text.split('\n').filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = JSON.parse(lines[i]);
      if (pred(v)) return v;
    } catch {}
  }
  return undefined;
}

class Adapter {
  constructor(ctx, location, name) {
    this.ctx = ctx;
    this.location = location;
    this.name = name;
    this.family = ctx.family ?? 'main';
    this.tag = this.family;
    this.snapshots = {};
    this.place();
  }
  /** Where this tool's repository, config and cache live for the current `tag`. */
  place() {
    this.dir = path.join(this.ctx.work, 'tools', `${this.name}-${this.location}-${this.tag}`);
    mkdirSync(this.dir, { recursive: true });
    this.repoDir = path.join(this.dir, 'repo');
    this.prefix = this.tag;
    this.configure();
  }
  configure() {}
  /**
   * A fresh, empty repository (a new folder, or a new prefix of the bucket) with its own
   * config and cache, for a first push measured again: the previous one is deleted.
   */
  async fresh(round) {
    await this.discard();
    this.tag = `${this.family}-${round}`;
    this.snapshots = {};
    this.place();
    await this.setup();
  }
  /** Deletes the current repository (local folder, or its objects in s3rver's data folder). */
  async discard() {
    await fs.rm(this.dir, { recursive: true, force: true });
    if (this.location === 's3' && this.prefix) await this.ctx.s3.removePrefix(this.bucket, this.prefix);
  }
  /** A fresh cache: the tool's cache folder removed (the cold-cache rows without root). */
  async dropCache() {
    if (this.cacheDir) await fs.rm(this.cacheDir, { recursive: true, force: true });
  }
  get id() {
    return `${this.name}/${this.location}`;
  }
  get bucket() {
    return `bench-${this.name}`;
  }
  run(cmd, args, env) {
    return timed(cmd, args, { env, tmpDir: this.ctx.work, label: `${this.id} ${args[0]}` });
  }
  async storage() {
    if (this.location === 's3') return this.ctx.s3.countObjects(this.bucket, this.prefix);
    return duFiles(this.repoDir);
  }
  async setup() {}
  /** The key prefix of a dataset for the sync tools (rclone, aws): `<tag>/<dataset>`. */
  key(dataset) {
    return `${this.prefix}/${dataset}`;
  }
  /** Folder under `target` where `source` comes back after restore. */
  restoredRoot(target, source) {
    return this.keepsAbsolutePaths ? path.join(target, source) : target;
  }
}

class Backupctl extends Adapter {
  keepsAbsolutePaths = true;
  constructor(ctx, location) {
    super(ctx, location, 'backupctl');
  }
  configure() {
    const ctx = this.ctx;
    this.cacheDir = path.join(this.dir, 'cache');
    this.prefix = `devices/${this.tag}`;
    this.env = {
      ...baseEnv(ctx.work),
      BACKUPCTL_PASSWORD: PASSWORD,
      BACKUPCTL_CONFIG_DIR: path.join(this.dir, 'config'),
      BACKUPCTL_CACHE_DIR: this.cacheDir,
      BACKUPCTL_HOST: 'bench',
      ...(this.location === 's3'
        ? { ...s3Keys, AWS_REGION: 'us-east-1', NODE_EXTRA_CA_CERTS: ctx.cert }
        : {}),
    };
  }
  cli(args) {
    return this.run(process.execPath, [BACKUPCTL_BIN, ...args], this.env);
  }
  async setup() {
    const repo =
      this.location === 's3'
        ? ['--repo', `s3://${this.bucket}/${this.prefix}`, '--endpoint', this.ctx.s3.endpoint]
        : ['--repo', this.repoDir];
    await this.cli(['init', ...repo, '--no-keychain', '--json']);
  }
  async backup(dataset, source) {
    const r = await this.cli(['push', source, '--json']);
    const out = JSON.parse(r.stdout);
    this.snapshots[dataset] = out.snapshotId;
    return {
      ...r,
      reported: {
        bytesUploaded: out.summary.bytesUploaded,
        newBytes: out.summary.newBytes,
        packs: out.summary.packsWritten,
        snapshot: out.snapshotId,
      },
    };
  }
  async restore(dataset, _source, target) {
    const r = await this.cli(['restore', this.snapshots[dataset], '--target', target, '--json']);
    const out = JSON.parse(r.stdout);
    return { ...r, reported: { bytesDownloaded: out.bytesDownloaded, requests: out.requests } };
  }
}

class Restic extends Adapter {
  keepsAbsolutePaths = true;
  /** `restic` with its default compression (auto); `restic-nocomp` with `--compression off`. */
  constructor(ctx, location, name = 'restic') {
    super(ctx, location, name);
    this.backupFlags = name === 'restic-nocomp' ? ['--compression', 'off'] : [];
  }
  configure() {
    const ctx = this.ctx;
    this.cacheDir = path.join(this.dir, 'cache');
    this.prefix = `r-${this.tag}`;
    this.env = {
      ...baseEnv(ctx.work),
      RESTIC_PASSWORD: PASSWORD,
      RESTIC_CACHE_DIR: this.cacheDir,
      ...(this.location === 's3' ? s3Keys : {}),
    };
    this.repoArgs =
      this.location === 's3'
        ? ['-r', `s3:${ctx.s3?.endpoint}/${this.bucket}/${this.prefix}`, '--cacert', ctx.cert]
        : ['-r', this.repoDir];
  }
  restic(args) {
    return this.run(this.ctx.bins.restic, [...this.repoArgs, ...args], this.env);
  }
  async setup() {
    await this.restic(['init']);
  }
  async backup(dataset, source) {
    const r = await this.restic(['backup', ...this.backupFlags, '--json', '--host', 'bench', source]);
    const s = lastJsonLine(r.stdout, (v) => v.message_type === 'summary') ?? {};
    this.snapshots[dataset] = s.snapshot_id;
    r.stdout = '';
    return { ...r, reported: { dataAdded: s.data_added, snapshot: s.snapshot_id } };
  }
  async restore(dataset, _source, target) {
    return this.restic(['restore', this.snapshots[dataset], '--target', target]);
  }
}

class Rclone extends Adapter {
  constructor(ctx) {
    super(ctx, 's3', 'rclone');
    this.env = {
      ...baseEnv(ctx.work),
      RCLONE_CONFIG_BK_TYPE: 's3',
      RCLONE_CONFIG_BK_PROVIDER: 'Other',
      RCLONE_CONFIG_BK_ENDPOINT: ctx.s3.endpoint,
      RCLONE_CONFIG_BK_ACCESS_KEY_ID: 'S3RVER',
      RCLONE_CONFIG_BK_SECRET_ACCESS_KEY: 'S3RVER',
      RCLONE_CONFIG_BK_REGION: 'us-east-1',
      RCLONE_CONFIG_BK_FORCE_PATH_STYLE: 'true',
      // rclone 1.60 fails when AWS_CA_BUNDLE is set: baseEnv never sets it.
    };
    this.common = ['--fast-list', '--ca-cert', ctx.cert];
  }
  async backup(dataset, source) {
    return this.run(
      this.ctx.bins.rclone,
      ['sync', source, `bk:${this.bucket}/${this.key(dataset)}`, ...this.common],
      this.env,
    );
  }
  async restore(dataset, _source, target) {
    return this.run(
      this.ctx.bins.rclone,
      ['copy', `bk:${this.bucket}/${this.key(dataset)}`, target, ...this.common],
      this.env,
    );
  }
}

class AwsSync extends Adapter {
  constructor(ctx) {
    super(ctx, 's3', 'aws');
    this.env = {
      ...baseEnv(ctx.work),
      ...s3Keys,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CA_BUNDLE: ctx.cert,
      AWS_PAGER: '',
    };
    this.common = ['--endpoint-url', ctx.s3.endpoint, '--no-progress', '--only-show-errors'];
  }
  // Following links (aws's default) uploads a link's target as a copy, and a dangling link
  // (the real tree has them) makes `sync` skip it and exit 2. S3 has no links: skip them.
  get uploadFlags() {
    return [...this.common, '--no-follow-symlinks'];
  }
  async backup(dataset, source) {
    return this.run(
      this.ctx.bins.aws,
      ['s3', 'sync', source, `s3://${this.bucket}/${this.key(dataset)}`, ...this.uploadFlags],
      this.env,
    );
  }
  async restore(dataset, _source, target) {
    return this.run(
      this.ctx.bins.aws,
      ['s3', 'sync', `s3://${this.bucket}/${this.key(dataset)}`, target, ...this.common],
      this.env,
    );
  }
}

export const TOOL_NAMES = ['backupctl', 'restic', 'restic-nocomp', 'rclone', 'aws'];

/** Adapters for the chosen tools and locations (rclone and aws exist only on S3). */
export function makeAdapters(ctx, { tools, locations }) {
  const out = [];
  for (const location of ['s3', 'local']) {
    if (!locations.includes(location)) continue;
    for (const name of tools) {
      if (name === 'backupctl') out.push(new Backupctl(ctx, location));
      else if (name === 'restic' || name === 'restic-nocomp') out.push(new Restic(ctx, location, name));
      else if (location === 's3' && name === 'rclone') out.push(new Rclone(ctx));
      else if (location === 's3' && name === 'aws') out.push(new AwsSync(ctx));
    }
  }
  return out;
}
