#!/usr/bin/env node
// `npm run bench`: backupctl, restic, rclone and `aws s3 sync` side by side against the
// same local S3 server (s3rver with TLS behind a counting proxy), plus backupctl and restic
// on local-directory repositories. See docs/benchmarks.md.
//
//   node bench/run.mjs             the whole bench, then the issue's three numbers
//   node bench/run.mjs --issue     only the issue's three numbers (bench/measure-issue.mjs)
//   node bench/run.mjs --no-issue  the whole bench without them
//   --keep                         keep the work folder (data, repositories, buckets)
//   --quick                        small sizes, local repositories, no issue numbers (iteration)
//   --json FILE                    also write {"results":[{workload, tool, target, seconds,
//                                  cpu_seconds, bytes_stored, bytes_uploaded, requests,
//                                  peak_rss_mb}]} to FILE
// Any other argument is refused.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs, mkdirSync, mkdtempSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { editMiddle, makeBigFile, makeSmallFiles, makeTree, verifyTree } from './lib/data.mjs';
import { capture } from './lib/exec.mjs';
import { measureIssue, renderIssue } from './lib/issue.mjs';
import { addRatios, groupOps, peerRatios, renderPeerRatios, renderTable } from './lib/report.mjs';
import { makeCert, startS3 } from './lib/s3.mjs';
import { makeAdapters, repoRoot, TOOL_NAMES } from './lib/tools.mjs';

const argv = process.argv.slice(2);
const env = process.env;
const FLAGS = new Set(['--issue', '--no-issue', '--keep', '--quick', '--json']);
let jsonFile;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!FLAGS.has(a)) {
    console.error(`bench: unknown argument ${JSON.stringify(a)} (known: ${[...FLAGS].join(' ')})`);
    process.exit(2);
  }
  if (a === '--json') {
    jsonFile = argv[++i];
    if (!jsonFile || jsonFile.startsWith('--')) {
      console.error('bench: --json needs a FILE');
      process.exit(2);
    }
  }
}
const quick = argv.includes('--quick');
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
const list = (name, def) =>
  env[name]
    ? env[name]
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : def;

const config = {
  treeFiles: num('BENCH_TREE_FILES', quick ? 300 : 2000),
  treeMib: num('BENCH_TREE_MIB', quick ? 30 : 300),
  bigMib: num('BENCH_BIG_MIB', quick ? 64 : 512),
  editMib: num('BENCH_EDIT_MIB', 1),
  smallFiles: num('BENCH_SMALL_FILES', quick ? 2000 : 10_000),
  realDirs: list('BENCH_REAL_DIRS', REAL_DIRS),
  repeat: num('BENCH_REPEAT', 3),
  tools: list('BENCH_TOOLS', quick ? ['backupctl', 'restic', 'restic-nocomp'] : TOOL_NAMES),
  locations: list('BENCH_LOCATIONS', quick ? ['local'] : ['s3', 'local']),
  scenarios: list('BENCH_SCENARIOS', ['r', 'rb', 'a', 'b', 'c', 'd', 'e']),
  issue: quick
    ? 'no'
    : argv.includes('--issue')
      ? 'only'
      : argv.includes('--no-issue') || env.BENCH_ISSUE === '0'
        ? 'no'
        : 'yes',
  issueBigMib: num('BENCH_ISSUE_BIG_MIB', 1024),
  issueHugeMib: num('BENCH_ISSUE_HUGE_MIB', 2048),
  issueSmallFiles: num('BENCH_ISSUE_SMALL_FILES', 10_000),
  issueRepeat: num('BENCH_ISSUE_REPEAT', 3),
  upstreamTls: env.BENCH_UPSTREAM_TLS !== '0',
  keep: argv.includes('--keep') || env.BENCH_KEEP === '1',
};

const SCENARIOS = {
  r: `first backup of a real-shaped tree (a copy of ${config.realDirs.join(', ')})`,
  rb: 're-run of r, no change (alternated A B A B, median of BENCH_REPEAT runs)',
  a: 'first backup of the mixed tree',
  b: 're-run, no change',
  c: `after a ${config.editMib} MiB edit in the middle of a ${config.bigMib} MiB file`,
  d: `first backup of ${config.smallFiles} small files`,
  e: 'restore of (a)',
};

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
      execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', 'packages/core/src'], {
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

async function main() {
  const { bins, info } = await machine();
  log(`backupctl bench — work folder ${work}`);
  log(
    `machine: ${info.cpus} × ${info.cpuModel}, ${info.memGiB} GiB, load ${info.loadavg.map((l) => l.toFixed(2)).join(' ')}`,
  );
  log(
    `tools: node ${info.versions.node}; ${info.versions.restic}; ${info.versions.rclone}; ${bins.aws}: ${info.versions.aws}${info.versions.awsOnPath && info.versions.awsOnPath !== bins.aws ? ` (PATH's aws is ${info.versions.awsOnPath}, not used)` : ''}; s3rver ${info.versions.s3rver}`,
  );
  const out = { started: new Date().toISOString(), config, machine: info, scenarios: SCENARIOS, records: [] };

  if (config.issue !== 'only') await runBench(bins, out);
  if (config.issue !== 'no') {
    out.issue = await measureIssue({
      work,
      bigMib: config.issueBigMib,
      hugeMib: config.issueHugeMib,
      smallFiles: config.issueSmallFiles,
      repeat: config.issueRepeat,
      log,
    });
  }
  out.finished = new Date().toISOString();

  if (out.records.length > 0) {
    log('\nScenarios:');
    for (const [k, v] of Object.entries(SCENARIOS)) if (config.scenarios.includes(k)) log(`  ${k}) ${v}`);
    log(
      `  (mixed tree: ${config.treeFiles} files, ${config.treeMib} MiB; ×best = value ÷ best of the same scenario and location)\n`,
    );
    log(renderTable(out.records));
    out.peerRatios = peerRatios(out.records);
    log('\nbackupctl ÷ best peer (restic, rclone, aws on S3; restic on local):');
    log(renderPeerRatios(out.peerRatios));
    const failed = out.records.filter((r) => r.error);
    for (const f of failed) log(`\nFAILED ${f.scenario} ${f.tool}: ${f.error}`);
  }
  if (out.records.some((r) => r.scenario === 'rb')) {
    out.repeated = medians(out.records.filter((r) => r.scenario === 'rb' && !r.error));
    log('\nrb, median [min–max] of the alternated runs, and ÷ restic of the same location:');
    for (const m of out.repeated) {
      log(
        `  ${m.tool.padEnd(22)} wall ${m.wall.median.toFixed(2)} s [${m.wall.min.toFixed(2)}–${m.wall.max.toFixed(2)}] ×${m.wallVsRestic ?? '-'}   cpu ${m.cpu.median.toFixed(2)} s [${m.cpu.min.toFixed(2)}–${m.cpu.max.toFixed(2)}] ×${m.cpuVsRestic ?? '-'}   RSS ${m.rss.median.toFixed(0)} MiB`,
      );
    }
  }
  if (out.issue) log(renderIssue(out.issue));

  const resultsDir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${stamp}.json`);
  await fs.writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
  log(`\nresults: ${path.relative(process.cwd(), file)}`);
  if (jsonFile) {
    await fs.writeFile(jsonFile, `${JSON.stringify({ results: out.records.map(toResult) }, null, 2)}\n`);
    log(`json: ${jsonFile}`);
  }
}

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  return { median: v[Math.floor(v.length / 2)], min: v[0], max: v.at(-1), n: v.length };
}

/** Per tool: median and spread of the repeated runs, and ratios to restic at the same location. */
function medians(records) {
  const byTool = new Map();
  for (const r of records) byTool.set(r.tool, [...(byTool.get(r.tool) ?? []), r]);
  const out = [...byTool].map(([tool, rs]) => ({
    tool,
    wall: stats(rs.map((r) => r.wallS)),
    cpu: stats(rs.map((r) => r.userS + r.sysS)),
    rss: stats(rs.map((r) => r.maxRssMiB)),
  }));
  for (const m of out) {
    const restic = out.find((o) => o.tool === `restic/${m.tool.split('/')[1]}`);
    if (restic && restic !== m) {
      m.wallVsRestic = +(m.wall.median / restic.wall.median).toFixed(2);
      m.cpuVsRestic = +(m.cpu.median / restic.cpu.median).toFixed(2);
    }
  }
  return out;
}

/** One record in the shape of `--json FILE` (the issue's contract). */
function toResult(r) {
  const [tool, target] = r.tool.split('/');
  return {
    workload: r.scenario,
    tool,
    target: target ?? r.location,
    seconds: r.wallS ?? null,
    cpu_seconds: r.userS === undefined ? null : +(r.userS + r.sysS).toFixed(3),
    bytes_stored: r.storedBytes ?? null,
    bytes_uploaded: r.bytesUp ?? null,
    requests: r.requests?.total ?? null,
    peak_rss_mb: r.maxRssMiB ?? null,
    ...(r.error ? { error: r.error } : {}),
  };
}

async function runBench(bins, out) {
  const want = (s) => config.scenarios.includes(s);
  const tools = config.tools.filter((t) => {
    if (t === 'backupctl' || bins[t.replace(/-nocomp$/, '')]) return true;
    log(`skipping ${t}: not installed`);
    return false;
  });

  const data = path.join(work, 'data');
  const t = Date.now();
  const tree =
    want('a') || want('b') || want('e')
      ? await makeTree(path.join(data, 'tree'), { files: config.treeFiles, mib: config.treeMib })
      : undefined;
  const real = path.join(data, 'real');
  if (want('r') || want('rb')) {
    mkdirSync(real, { recursive: true });
    for (const dir of config.realDirs) {
      if (!existsSync(dir)) continue;
      // cp -a keeps hard links, symlinks and mtimes: what a real disk holds.
      execFileSync('cp', ['-a', dir, path.join(real, dir.replaceAll('/', '_'))]);
    }
  }
  const bigFile = path.join(data, 'big', 'big.bin');
  if (want('c')) await makeBigFile(bigFile, { mib: config.bigMib });
  const small = want('d')
    ? await makeSmallFiles(path.join(data, 'small'), { files: config.smallFiles })
    : undefined;
  log(`data generated in ${((Date.now() - t) / 1000).toFixed(1)} s`);

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
  try {
    if (config.locations.includes('s3')) {
      const { key, cert } = makeCert(path.join(work, 'tls'));
      ctx.cert = cert;
      const buckets = tools.map((n) => `bench-${n}`);
      s3 = await startS3({ dir: work, buckets, key, cert, upstreamTls: config.upstreamTls });
      ctx.s3 = s3;
      log(
        `s3rver pid ${s3.serverPid} on :${s3.serverPort} (${config.upstreamTls ? 'TLS' : 'HTTP'}), counting proxy pid ${s3.proxyPid} at ${s3.endpoint}`,
      );
    }
    const adapters = makeAdapters(ctx, { tools, locations: config.locations });
    for (const a of adapters) await a.setup();

    const step = async (scenario, adapter, fn) => {
      const record = { scenario, tool: adapter.id, location: adapter.location };
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
        const req = record.requests ? `, ${record.requests.total} requests` : '';
        log(
          `  ${scenario} ${adapter.id.padEnd(16)} ${record.wallS.toFixed(2)} s, ${record.maxRssMiB.toFixed(0)} MiB RSS, ${(record.bytesUp / 2 ** 20).toFixed(1)} MiB up${req}${r.verify ? `, restore ${r.verify.ok ? 'verified' : 'BAD'}` : ''}`,
        );
      } catch (error) {
        record.error = String(error.message ?? error).slice(0, 2000);
        log(`  ${scenario} ${adapter.id} FAILED: ${record.error}`);
      }
      out.records.push(record);
    };

    if (want('r')) {
      log(`r) ${SCENARIOS.r}`);
      for (const a of adapters) await step('r', a, () => a.backup('real', real));
    }
    if (want('rb')) {
      log(`rb) ${SCENARIOS.rb}`);
      // A B A B …: each tool in turn, so load on the shared machine falls on all alike.
      for (let i = 0; i < config.repeat; i++) {
        for (const a of adapters) await step('rb', a, () => a.backup('real', real));
      }
    }
    if (want('a')) {
      log(`a) ${SCENARIOS.a}`);
      for (const a of adapters) await step('a', a, () => a.backup('tree', tree.root));
    }
    if (want('b')) {
      log(`b) ${SCENARIOS.b}`);
      for (const a of adapters) await step('b', a, () => a.backup('tree', tree.root));
    }
    if (want('c')) {
      log(`c0) first backup of the ${config.bigMib} MiB file (setup of c)`);
      for (const a of adapters) await step('c0', a, () => a.backup('big', path.dirname(bigFile)));
      const edit = await editMiddle(bigFile, { mib: config.editMib });
      log(`c) ${SCENARIOS.c} (offset ${edit.offset})`);
      for (const a of adapters) await step('c', a, () => a.backup('big', path.dirname(bigFile)));
      await fs.rm(bigFile, { force: true });
    }
    if (want('d')) {
      log(`d) ${SCENARIOS.d}`);
      for (const a of adapters) await step('d', a, () => a.backup('small', small.root));
    }
    if (want('e') && tree) {
      log(`e) ${SCENARIOS.e}`);
      for (const a of adapters) {
        const target = path.join(work, 'restore', a.id.replace('/', '-'));
        await step('e', a, async () => {
          const r = await a.restore('tree', tree.root, target);
          r.verify = await verifyTree(a.restoredRoot(target, tree.root), tree.manifest);
          return r;
        });
        await fs.rm(target, { recursive: true, force: true });
      }
    }
    addRatios(out.records);
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!config.keep && config.issue === 'no') await fs.rm(work, { recursive: true, force: true });
    else if (!config.keep)
      await fs
        .rm(path.join(work, 'tools'), { recursive: true, force: true })
        .then(() => fs.rm(data, { recursive: true, force: true }));
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
