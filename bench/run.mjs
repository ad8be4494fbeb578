#!/usr/bin/env node
// `npm run bench`: backupctl, restic (default compression and --compression off), rclone and
// `aws s3 sync` side by side against the same local S3 server (s3rver with TLS behind a
// counting proxy), and backupctl and restic on local-directory repositories. Every measured
// step alternates the tools (A B C A B C …) BENCH_REPEAT times and reports median and
// spread. See docs/benchmarks.md.
//
//   node bench/run.mjs                 the default scenarios, then the issue's three numbers
//   --quick                            small sizes, local repositories, no issue numbers
//   --scenarios LIST                   only these scenarios (= BENCH_SCENARIOS; `all` for every one)
//   --repeat N                         rounds of each alternated step (= BENCH_REPEAT, default 3)
//   --list                             print the scenarios and exit
//   --issue / --no-issue               only / without the issue's three numbers
//   --keep                             keep the work folder (data, repositories, buckets)
//   --json FILE                        also write {"results":[{workload, tool, target, seconds,
//                                      cpu_seconds, bytes_stored, bytes_uploaded, requests,
//                                      peak_rss_mb}]} to FILE (one entry per measured run)
// Any other argument is refused (exit 2).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, promises as fs, mkdirSync, mkdtempSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, splitList, stats, UsageError } from './lib/args.mjs';
import {
  changeLaptopTree,
  compareTrees,
  duFiles,
  editMiddle,
  makeBigFile,
  makeLaptopTree,
  makeSmallFiles,
  makeTree,
  verifyTree,
} from './lib/data.mjs';
import { capture } from './lib/exec.mjs';
import { measureIssue, renderIssue } from './lib/issue.mjs';
import {
  groupOps,
  medianRecords,
  peerRatios,
  renderMedianTable,
  renderPeerRatios,
  renderRestic,
  resticRatios,
} from './lib/report.mjs';
import { makeCert, startS3 } from './lib/s3.mjs';
import { BACKUPCTL_BIN, makeAdapters, repoRoot, TOOL_NAMES } from './lib/tools.mjs';

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`bench: ${error.message}`);
  process.exit(2);
}
const env = process.env;
const quick = opts.quick;
/** Folders of this machine copied into the real-shaped tree (docs, man pages, scripts, locales, zoneinfo). */
const REAL_DIRS = quick
  ? ['/usr/share/zoneinfo', '/usr/share/perl']
  : [
      '/usr/share/doc',
      '/usr/share/man',
      '/usr/lib/python3',
      '/usr/share/perl',
      '/usr/share/zoneinfo',
      '/usr/share/java',
      '/usr/share/locale',
    ];
const num = (name, def) => (env[name] ? Number(env[name]) : def);
const list = (name, def) => (env[name] ? splitList(env[name]) : def);

/** Every scenario, in the order they run; `family` shares a dataset and repositories. */
const ALL = {
  help: { family: 'help', long: false },
  r: { family: 'real' },
  rb: { family: 'real' },
  rcold: { family: 'real' },
  rr: { family: 'real' },
  a: { family: 'mixed' },
  b: { family: 'mixed' },
  e: { family: 'mixed' },
  c: { family: 'big' },
  d: { family: 'small' },
  k: { family: 'laptop' },
  kb: { family: 'laptop' },
  kc: { family: 'laptop' },
  kr: { family: 'laptop' },
  m: { family: 'million', long: true },
  mb: { family: 'million', long: true },
  mr: { family: 'million', long: true },
  g: { family: 'giant', long: true },
  gr: { family: 'giant', long: true },
};
const DEFAULT_SCENARIOS = quick
  ? ['help', 'r', 'rb', 'rr', 'k', 'kb', 'kc', 'kr']
  : Object.keys(ALL).filter((k) => !ALL[k].long);
const wanted = opts.scenarios ?? list('BENCH_SCENARIOS', DEFAULT_SCENARIOS);
const scenarios = wanted.includes('all') ? Object.keys(ALL) : wanted;
const unknown = scenarios.filter((s) => !ALL[s]);
if (unknown.length > 0) {
  console.error(`bench: unknown scenario ${unknown.join(', ')} (known: ${Object.keys(ALL).join(', ')}, all)`);
  process.exit(2);
}

const config = {
  treeFiles: num('BENCH_TREE_FILES', quick ? 300 : 2000),
  treeMib: num('BENCH_TREE_MIB', quick ? 30 : 300),
  bigMib: num('BENCH_BIG_MIB', quick ? 64 : 512),
  editMib: num('BENCH_EDIT_MIB', 1),
  smallFiles: num('BENCH_SMALL_FILES', quick ? 2000 : 10_000),
  laptopFiles: num('BENCH_LAPTOP_FILES', quick ? 5000 : 100_000),
  changePercent: num('BENCH_CHANGE_PERCENT', 1),
  millionFiles: num('BENCH_MILLION_FILES', 1_000_000),
  giantMib: num('BENCH_GIANT_MIB', 4096),
  helpRuns: num('BENCH_HELP_RUNS', 20),
  realDirs: list('BENCH_REAL_DIRS', REAL_DIRS),
  repeat: opts.repeat ?? num('BENCH_REPEAT', 3),
  longRepeat: num('BENCH_LONG_REPEAT', 1),
  tools: list('BENCH_TOOLS', quick ? ['backupctl', 'restic', 'restic-nocomp'] : TOOL_NAMES),
  locations: list('BENCH_LOCATIONS', quick ? ['local'] : ['s3', 'local']),
  /** Where each family runs by default: the large trees on local repositories only. */
  familyLocations: {
    real: ['s3', 'local'],
    mixed: ['s3', 'local'],
    big: ['s3', 'local'],
    small: ['s3', 'local'],
    laptop: list('BENCH_LAPTOP_LOCATIONS', ['local']),
    million: ['local'],
    giant: ['local'],
  },
  scenarios,
  issue: quick ? 'no' : (opts.issue ?? (env.BENCH_ISSUE === '0' ? 'no' : 'yes')),
  issueBigMib: num('BENCH_ISSUE_BIG_MIB', 1024),
  issueHugeMib: num('BENCH_ISSUE_HUGE_MIB', 2048),
  issueSmallFiles: num('BENCH_ISSUE_SMALL_FILES', 10_000),
  issueRepeat: num('BENCH_ISSUE_REPEAT', 3),
  upstreamTls: env.BENCH_UPSTREAM_TLS !== '0',
  keep: opts.keep || env.BENCH_KEEP === '1',
};

const R = config.repeat;
const LR = config.longRepeat;
const SCENARIOS = {
  help: `cold start: \`backupctl --help\` vs a bare \`node -e 0\`, ${config.helpRuns} runs each, alternated`,
  r: `first push of a real-shaped tree (a copy of ${config.realDirs.join(', ')}), a fresh repository each of ${R} rounds`,
  rb: `unchanged re-push of r, ${R} rounds`,
  rcold: `unchanged re-push of r with a cold cache (OS page cache dropped before each run), ${R} rounds`,
  rr: `restore of r into an empty folder, verified, ${R} rounds`,
  a: `first push of the mixed tree (${config.treeFiles} files, ${config.treeMib} MiB random), ${R} rounds`,
  b: `unchanged re-push of a, ${R} rounds`,
  e: `restore of a, verified, ${R} rounds`,
  c: `re-push after a ${config.editMib} MiB edit in the middle of a ${config.bigMib} MiB file (a new edit each of ${R} rounds)`,
  d: `first push of ${config.smallFiles} small random files, ${R} rounds`,
  k: `first push of ${config.laptopFiles} laptop-shaped small files (⅔ text, ⅓ random, duplicates), ${R} rounds`,
  kb: `unchanged re-push of k, ${R} rounds`,
  kc: `re-push of k after ${config.changePercent}% of its files changed (other files each of ${R} rounds)`,
  kr: `restore of k, verified (every 10th file's bytes, every file's size), ${R} rounds`,
  m: `first push of ${config.millionFiles} laptop-shaped small files, ${LR} round(s)`,
  mb: `unchanged re-push of m, ${LR} round(s)`,
  mr: `restore of m, verified (sizes, every 100th file's bytes), ${LR} round(s)`,
  g: `first push of one ${config.giantMib} MiB file, ${LR} round(s)`,
  gr: `restore of g, verified, ${LR} round(s)`,
};

if (opts.list) {
  for (const [k, v] of Object.entries(SCENARIOS))
    console.log(`${k.padEnd(6)} ${ALL[k].long ? '(long, only when named) ' : ''}${v}`);
  process.exit(0);
}

const log = (...a) => console.log(...a);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const workBase = env.BENCH_WORKDIR || os.tmpdir();
mkdirSync(workBase, { recursive: true });
const work = mkdtempSync(path.join(workBase, 'backupctl-bench-'));

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function machine() {
  const bins = {
    restic: env.BENCH_RESTIC || which('restic'),
    rclone: env.BENCH_RCLONE || which('rclone'),
    // Debian's awscli (v2) by default: a pyenv shim may put another `aws` first on PATH.
    aws: env.BENCH_AWS || (existsSync('/usr/bin/aws') ? '/usr/bin/aws' : which('aws')),
  };
  const versions = {
    node: process.version,
    restic: bins.restic && (await capture(bins.restic, ['version'])),
    rclone: bins.rclone && (await capture(bins.rclone, ['version'])).split('\n')[0],
    aws: bins.aws && (await capture(bins.aws, ['--version'])),
    awsOnPath: which('aws'),
    s3rver: JSON.parse(await fs.readFile(path.join(repoRoot, 'node_modules/s3rver/package.json'), 'utf8'))
      .version,
    backupctl: execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim(),
    backupctlDirty:
      execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', 'packages'], {
        encoding: 'utf8',
      }).trim() !== '',
  };
  const fsStat = statfsSync(work);
  return {
    bins,
    info: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
      loadavg: os.loadavg(),
      kernel: os.release(),
      freeDiskGiB: +((fsStat.bavail * fsStat.bsize) / 2 ** 30).toFixed(1),
      work,
      versions,
    },
  };
}

/** Drops the OS page cache (root only): the cold-cache rows. Returns how the cache was made cold. */
function dropPageCache() {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return 'page-cache';
  } catch {
    return undefined;
  }
}

async function main() {
  const { bins, info } = await machine();
  log(`backupctl bench — work folder ${work}`);
  log(
    `machine: ${info.cpus} × ${info.cpuModel}, ${info.memGiB} GiB, load ${info.loadavg.map((l) => l.toFixed(2)).join(' ')}`,
  );
  log(
    `tools: node ${info.versions.node}; ${info.versions.restic}; ${info.versions.rclone}; ${bins.aws}: ${info.versions.aws}${info.versions.awsOnPath && info.versions.awsOnPath !== bins.aws ? ` (PATH's aws is ${info.versions.awsOnPath}, not used)` : ''}; s3rver ${info.versions.s3rver}`,
  );
  log(`scenarios: ${config.scenarios.join(' ')}; ${R} rounds (long ones ${LR})`);
  const out = {
    started: new Date().toISOString(),
    config,
    machine: info,
    scenarios: SCENARIOS,
    records: [],
    scenarioSeconds: {},
  };

  if (config.issue !== 'only') await runBench(bins, out);
  if (config.issue !== 'no') {
    const t = Date.now();
    out.issue = await measureIssue({
      work,
      bigMib: config.issueBigMib,
      hugeMib: config.issueHugeMib,
      smallFiles: config.issueSmallFiles,
      repeat: config.issueRepeat,
      log,
    });
    out.scenarioSeconds.issue = (Date.now() - t) / 1000;
  }
  out.finished = new Date().toISOString();
  out.loadavgEnd = os.loadavg();

  if (out.records.length > 0) {
    const medians = medianRecords(out.records);
    out.medians = medians;
    log('\nScenarios:');
    for (const [k, v] of Object.entries(SCENARIOS)) if (config.scenarios.includes(k)) log(`  ${k}) ${v}`);
    log(
      '\nMedian of the rounds [min–max]; ×best = median ÷ best median of the same scenario and location:\n',
    );
    log(renderMedianTable(medians));
    out.vsRestic = resticRatios(medians);
    log('\nbackupctl ÷ restic (default compression) / ÷ restic --compression off, medians:');
    log(renderRestic(out.vsRestic));
    out.peerRatios = peerRatios(medians.filter((m) => m.n > 0 && m.scenario !== 'help'));
    log('\nbackupctl ÷ best other tool (restic, rclone, aws on S3; restic on local), medians:');
    log(renderPeerRatios(out.peerRatios));
    for (const f of out.records.filter((r) => r.error)) log(`\nFAILED ${f.scenario} ${f.tool}: ${f.error}`);
  }
  if (out.issue) log(renderIssue(out.issue));
  log('\nTime per scenario (data generation and setup included):');
  for (const [k, v] of Object.entries(out.scenarioSeconds)) log(`  ${k.padEnd(8)} ${v.toFixed(0)} s`);
  log(`load average at the end: ${out.loadavgEnd.map((l) => l.toFixed(2)).join(' ')}`);

  const resultsDir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${stamp}.json`);
  await fs.writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
  log(`\nresults: ${path.relative(process.cwd(), file)}`);
  if (opts.json) {
    await fs.writeFile(opts.json, `${JSON.stringify({ results: out.records.map(toResult) }, null, 2)}\n`);
    log(`json: ${opts.json}`);
  }
}

/** One record in the shape of `--json FILE` (the issue's contract), plus round and ratio. */
function toResult(r) {
  const [tool, target] = r.tool.split('/');
  return {
    workload: r.workload ?? r.scenario,
    tool,
    target: target ?? r.location,
    seconds: r.wallS ?? null,
    cpu_seconds: r.userS === undefined ? null : +(r.userS + (r.sysS ?? 0)).toFixed(3),
    bytes_stored: r.storedBytes ?? null,
    bytes_uploaded: r.bytesUp ?? null,
    requests: r.requests?.total ?? null,
    peak_rss_mb: r.maxRssMiB ?? null,
    round: r.round ?? null,
    ...(r.ratioToNode ? { ratio_to_node: r.ratioToNode } : {}),
    ...(r.throughputMiBs ? { throughput_mib_s: r.throughputMiBs } : {}),
    ...(r.cold ? { cold: r.cold } : {}),
    ...(r.error ? { error: r.error } : {}),
  };
}

/** `backupctl --help` against `node -e 0`, alternated, `runs` times each (no GNU time: wall only). */
function coldStart(runs) {
  const node = [];
  const help = [];
  const rss = [];
  for (let i = 0; i < runs; i++) {
    for (const [times, args] of [
      [node, ['-e', '0']],
      [help, [BACKUPCTL_BIN, '--help']],
    ]) {
      const t = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
      times.push(Number(process.hrtime.bigint() - t) / 1e9);
    }
  }
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, BACKUPCTL_BIN, '--help'], {
    encoding: 'utf8',
  });
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? '');
  if (m) rss.push(Number(m[1]) / 1024);
  return { node: stats(node), help: stats(help), helpRssMiB: rss[0] };
}

async function runBench(bins, out) {
  const want = (s) => config.scenarios.includes(s);
  const wantFamily = (f) => config.scenarios.some((s) => ALL[s].family === f);
  const tools = config.tools.filter((t) => {
    if (t === 'backupctl' || bins[t.replace(/-nocomp$/, '')]) return true;
    log(`skipping ${t}: not installed`);
    return false;
  });
  const data = path.join(work, 'data');
  const ctx = { work, bins, cert: undefined, s3: undefined };
  let s3;
  const stopAll = async () => {
    if (s3) await s3.stop();
  };
  const onSignal = async () => {
    await stopAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const step = async (scenario, adapter, round, fn, extra = {}) => {
    const record = { scenario, tool: adapter.id, location: adapter.location, round, ...extra };
    try {
      if (adapter.location === 's3') await s3.stats(true);
      const before = await adapter.storage();
      const r = await fn();
      const after = await adapter.storage();
      Object.assign(record, {
        wallS: r.wallS,
        userS: r.userS,
        sysS: r.sysS,
        maxRssMiB: r.maxRssMiB,
        objectsAfter: after.objects ?? after.files,
        objectsDelta: (after.objects ?? after.files) - (before.objects ?? before.files),
        storedBytes: after.bytes,
        reported: r.reported,
      });
      if (adapter.location === 's3') {
        const st = await s3.stats(true);
        Object.assign(record, {
          bytesUp: st.bytesUp,
          bytesDown: st.bytesDown,
          requests: groupOps(st.ops),
          ops: st.ops,
          status: st.status,
        });
      } else {
        record.bytesUp = after.bytes - before.bytes;
      }
      if (r.verify) record.verify = r.verify;
      if (extra.datasetBytes) record.throughputMiBs = extra.datasetBytes / 2 ** 20 / r.wallS;
      const req = record.requests ? `, ${record.requests.total} requests` : '';
      log(
        `  ${scenario}#${round} ${adapter.id.padEnd(20)} ${record.wallS.toFixed(2)} s, cpu ${((r.userS ?? 0) + (r.sysS ?? 0)).toFixed(1)} s, ${record.maxRssMiB.toFixed(0)} MiB RSS, ${(record.bytesUp / 2 ** 20).toFixed(1)} MiB added${req}${r.verify ? `, restore ${r.verify.ok ? 'verified' : `BAD ${JSON.stringify(r.verify)}`}` : ''}`,
      );
    } catch (error) {
      record.error = String(error.message ?? error).slice(0, 2000);
      log(`  ${scenario}#${round} ${adapter.id} FAILED: ${record.error}`);
    }
    out.records.push(record);
    return record;
  };

  /** Runs `fn` as scenario `name` and records its duration. */
  const timedScenario = async (name, fn) => {
    if (!want(name)) return;
    log(`${name}) ${SCENARIOS[name]}`);
    const t = Date.now();
    await fn();
    out.scenarioSeconds[name] = (Date.now() - t) / 1000;
    log(`   (${name}: ${out.scenarioSeconds[name].toFixed(0)} s)`);
  };
  const adaptersFor = async (family) => {
    const locations = config.familyLocations[family].filter((l) => config.locations.includes(l));
    const as = makeAdapters({ ...ctx, family }, { tools, locations });
    for (const a of as) await a.setup();
    return as;
  };
  const first = async (name, adapters, dataset, source, rounds) => {
    for (let i = 1; i <= rounds; i++) {
      for (const a of adapters) {
        await a.fresh(i);
        await step(name, a, i, () => a.backup(dataset, source));
      }
    }
  };
  /** A setup push of the family's dataset when its first-push scenario was not asked for. */
  const ensurePushed = async (adapters, dataset, source) => {
    for (const a of adapters) if (!a.snapshots[dataset]) await a.backup(dataset, source);
  };
  const again = async (name, adapters, dataset, source, rounds, { before, beforeEach, extra } = {}) => {
    for (let i = 1; i <= rounds; i++) {
      const info = before ? await before(i) : undefined;
      for (const a of adapters) {
        const cold = beforeEach ? await beforeEach(a) : undefined;
        await step(name, a, i, () => a.backup(dataset, source), {
          ...extra,
          ...info,
          ...(cold ? { cold } : {}),
        });
      }
    }
  };
  // Every round restores into a folder of its own, and all are removed after the row: on
  // ext4 without a journal, creating files within ~30 s of a mass delete skips the freed
  // inodes (recently_deleted()), so a round after an `rm -rf` measured the kernel, not the
  // tool (100k files: 11 → 24 → 37 s, for both tools).
  const restore = async (name, adapters, dataset, source, rounds, verify, datasetBytes) => {
    const targets = [];
    try {
      for (let i = 1; i <= rounds; i++) {
        for (const a of adapters) {
          const target = path.join(work, 'restore', `${a.id.replace('/', '-')}-${name}-${i}`);
          await fs.rm(target, { recursive: true, force: true });
          targets.push(target);
          await step(
            name,
            a,
            i,
            async () => {
              const r = await a.restore(dataset, source, target);
              r.verify = await verify(a.restoredRoot(target, source));
              return r;
            },
            { datasetBytes },
          );
        }
      }
    } finally {
      for (const target of targets) await fs.rm(target, { recursive: true, force: true });
    }
  };

  try {
    const needsS3 = config.scenarios.some(
      (s) => config.familyLocations[ALL[s].family]?.includes('s3') && config.locations.includes('s3'),
    );
    if (needsS3) {
      const { key, cert } = makeCert(path.join(work, 'tls'));
      ctx.cert = cert;
      const buckets = tools.map((n) => `bench-${n}`);
      s3 = await startS3({ dir: work, buckets, key, cert, upstreamTls: config.upstreamTls });
      ctx.s3 = s3;
      log(
        `s3rver pid ${s3.serverPid} on :${s3.serverPort} (${config.upstreamTls ? 'TLS' : 'HTTP'}), counting proxy pid ${s3.proxyPid} at ${s3.endpoint}`,
      );
    }

    await timedScenario('help', async () => {
      const c = coldStart(config.helpRuns);
      const ratio = +(c.help.median / c.node.median).toFixed(2);
      const spread = (s) =>
        `${(s.median * 1000).toFixed(0)} ms [${(s.min * 1000).toFixed(0)}–${(s.max * 1000).toFixed(0)}]`;
      log(`  node -e 0 ${spread(c.node)}; backupctl --help ${spread(c.help)}; ratio ${ratio}`);
      const common = { scenario: 'help', workload: 'cold-start --help', location: 'local', round: null };
      out.records.push(
        { ...common, tool: 'node -e 0/local', wallS: c.node.median, spread: { wall: c.node } },
        {
          ...common,
          tool: 'backupctl/local',
          wallS: c.help.median,
          maxRssMiB: c.helpRssMiB,
          ratioToNode: ratio,
          spread: { wall: c.help },
        },
      );
    });

    if (wantFamily('real')) {
      const real = path.join(data, 'real');
      const t = Date.now();
      mkdirSync(real, { recursive: true });
      for (const dir of config.realDirs) {
        if (!existsSync(dir)) continue;
        // cp -a keeps hard links, symlinks and mtimes: what a real disk holds.
        execFileSync('cp', ['-a', dir, path.join(real, dir.replaceAll('/', '_'))]);
      }
      const size = await duFiles(real);
      log(
        `real-shaped tree: ${size.files} files, ${(size.bytes / 2 ** 20).toFixed(0)} MiB (${((Date.now() - t) / 1000).toFixed(0)} s)`,
      );
      out.datasets = { ...out.datasets, real: size };
      const as = await adaptersFor('real');
      await timedScenario('r', () => first('r', as, 'real', real, R));
      if (want('rb') || want('rcold') || want('rr')) await ensurePushed(as, 'real', real);
      await timedScenario('rb', () => again('rb', as, 'real', real, R));
      await timedScenario('rcold', () =>
        again('rcold', as, 'real', real, R, {
          beforeEach: async (a) => {
            const how = dropPageCache();
            if (how) return how;
            // Not root: a fresh tool cache instead (backupctl's cache dir, restic's cache).
            await a.dropCache();
            return 'tool-cache';
          },
        }),
      );
      await timedScenario('rr', () =>
        restore('rr', as, 'real', real, R, (dst) => compareTrees(real, dst), size.bytes),
      );
      for (const a of as) await a.discard();
      await fs.rm(real, { recursive: true, force: true });
    }

    if (wantFamily('mixed')) {
      const tree = await makeTree(path.join(data, 'tree'), { files: config.treeFiles, mib: config.treeMib });
      const as = await adaptersFor('mixed');
      await timedScenario('a', () => first('a', as, 'tree', tree.root, R));
      if (want('b') || want('e')) await ensurePushed(as, 'tree', tree.root);
      await timedScenario('b', () => again('b', as, 'tree', tree.root, R));
      await timedScenario('e', () =>
        restore('e', as, 'tree', tree.root, R, (dst) => verifyTree(dst, tree.manifest), tree.bytes),
      );
      for (const a of as) await a.discard();
      await fs.rm(tree.root, { recursive: true, force: true });
    }

    if (wantFamily('big')) {
      const bigFile = path.join(data, 'big', 'big.bin');
      await timedScenario('c', async () => {
        await makeBigFile(bigFile, { mib: config.bigMib });
        const as = await adaptersFor('big');
        log(`  c0) first push of the ${config.bigMib} MiB file (setup of c, recorded as c0)`);
        for (const a of as) await step('c0', a, 1, () => a.backup('big', path.dirname(bigFile)));
        await again('c', as, 'big', path.dirname(bigFile), R, {
          before: async (i) => ({ edit: await editMiddle(bigFile, { mib: config.editMib, seed: 9 + i }) }),
        });
        for (const a of as) await a.discard();
      });
      await fs.rm(bigFile, { force: true });
    }

    if (wantFamily('small')) {
      const small = await makeSmallFiles(path.join(data, 'small'), { files: config.smallFiles });
      const as = await adaptersFor('small');
      await timedScenario('d', () => first('d', as, 'small', small.root, R));
      for (const a of as) await a.discard();
      await fs.rm(small.root, { recursive: true, force: true });
    }

    const laptopFamily = async (family, files, names, rounds) => {
      const [f, fb, fc, fr] = names;
      const t = Date.now();
      const tree = makeLaptopTree(path.join(data, family), { files, log });
      const gen = (Date.now() - t) / 1000;
      log(
        `${family} tree: ${tree.files} files, ${(tree.bytes / 2 ** 20).toFixed(0)} MiB, generated in ${gen.toFixed(1)} s`,
      );
      out.datasets = { ...out.datasets, [family]: { files: tree.files, bytes: tree.bytes, generatedS: gen } };
      const as = await adaptersFor(family);
      await timedScenario(f, () => first(f, as, family, tree.root, rounds));
      if (want(fb) || (fc && want(fc)) || want(fr)) await ensurePushed(as, family, tree.root);
      await timedScenario(fb, () => again(fb, as, family, tree.root, rounds));
      if (fc) {
        await timedScenario(fc, () =>
          again(fc, as, family, tree.root, rounds, {
            before: async (i) => ({
              changed: changeLaptopTree(tree, { percent: config.changePercent, round: i }),
            }),
          }),
        );
      }
      const every = files >= 500_000 ? 100 : 10;
      await timedScenario(fr, () =>
        restore(
          fr,
          as,
          family,
          tree.root,
          rounds,
          (dst) => compareTrees(tree.root, dst, { sampleEvery: every }),
          tree.bytes,
        ),
      );
      for (const a of as) await a.discard();
      await fs.rm(tree.root, { recursive: true, force: true });
    };
    if (wantFamily('laptop')) await laptopFamily('laptop', config.laptopFiles, ['k', 'kb', 'kc', 'kr'], R);
    if (wantFamily('million'))
      await laptopFamily('million', config.millionFiles, ['m', 'mb', undefined, 'mr'], LR);

    if (wantFamily('giant')) {
      const file = path.join(data, 'giant', 'giant.bin');
      const t = Date.now();
      await makeBigFile(file, { mib: config.giantMib, seed: 4 });
      log(`giant file: ${config.giantMib} MiB generated in ${((Date.now() - t) / 1000).toFixed(0)} s`);
      const as = await adaptersFor('giant');
      const src = path.dirname(file);
      await timedScenario('g', () => first('g', as, 'giant', src, LR));
      if (want('gr')) await ensurePushed(as, 'giant', src);
      await timedScenario('gr', () =>
        restore('gr', as, 'giant', src, LR, (dst) => compareTrees(src, dst), config.giantMib * 2 ** 20),
      );
      for (const a of as) await a.discard();
      await fs.rm(file, { force: true });
    }
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!config.keep) await fs.rm(path.join(work, 'tools'), { recursive: true, force: true });
    if (!config.keep) await fs.rm(data, { recursive: true, force: true });
  }
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    if (!config.keep) await fs.rm(work, { recursive: true, force: true });
  });
