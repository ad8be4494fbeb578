// The three numbers the issue asks for, on local-directory repositories (no server in the
// way): bytes uploaded after a 1 MiB edit inside a 1 GiB file, objects stored for 10,000
// small files, peak RSS of a push of one 2 GiB file.
import { promises as fs, mkdirSync } from 'node:fs';
import path from 'node:path';
import { duFiles, editMiddle, makeBigFile, makeSmallFiles } from './data.mjs';
import { timed } from './exec.mjs';
import { BACKUPCTL_BIN, baseEnv, PASSWORD } from './tools.mjs';

const MiB = 1024 * 1024;

function backupctl(work, name) {
  const dir = path.join(work, 'issue', name);
  mkdirSync(dir, { recursive: true });
  const env = {
    ...baseEnv(work),
    BACKUPCTL_PASSWORD: PASSWORD,
    BACKUPCTL_CONFIG_DIR: path.join(dir, 'config'),
    BACKUPCTL_CACHE_DIR: path.join(dir, 'cache'),
    BACKUPCTL_HOST: 'bench',
  };
  const repo = path.join(dir, 'repo');
  const cli = (args) =>
    timed(process.execPath, [BACKUPCTL_BIN, ...args], { env, tmpDir: work, label: `backupctl ${args[0]}` });
  return {
    dir,
    repo,
    cli,
    init: () => cli(['init', '--repo', repo, '--no-keychain', '--json']),
    push: async (source) => {
      const r = await cli(['push', source, '--json']);
      return { ...r, json: JSON.parse(r.stdout) };
    },
  };
}

async function repoCounts(repo) {
  const out = {};
  for (const sub of ['data', 'index', 'snapshots', 'keys'])
    out[sub] = (await duFiles(path.join(repo, sub))).files;
  const all = await duFiles(repo, (rel) => !rel.startsWith('.tmp/'));
  out.total = all.files;
  out.bytes = all.bytes;
  return out;
}

export async function measureIssue({
  work,
  bigMib = 1024,
  hugeMib = 2048,
  smallFiles = 10_000,
  repeat = 3,
  log = console.log,
}) {
  const result = {};

  // 1. A 1 MiB edit in the middle of a 1 GiB file. Chunk boundaries depend on the
  // repository's secret chunker seed, so the bytes differ from one repository to the
  // next: measure in `repeat` fresh repositories and report each, min, median and max.
  {
    const runs = [];
    for (let i = 0; i < repeat; i++) {
      log(`issue 1 (${i + 1}/${repeat}): ${bigMib} MiB file, push, 1 MiB edit in the middle, push again`);
      const b = backupctl(work, `edit${i}`);
      const file = path.join(b.dir, 'src', 'big.bin');
      await makeBigFile(file, { mib: bigMib, seed: 11 });
      await b.init();
      const first = await b.push(path.dirname(file));
      const edit = await editMiddle(file, { mib: 1, seed: 12 });
      const second = await b.push(path.dirname(file));
      const s = second.json.summary;
      runs.push({
        edit,
        firstPush: {
          wallS: first.wallS,
          bytesUploaded: first.json.summary.bytesUploaded,
          maxRssMiB: first.maxRssMiB,
        },
        secondPush: {
          wallS: second.wallS,
          maxRssMiB: second.maxRssMiB,
          bytesUploaded: s.bytesUploaded,
          newBytes: s.newBytes,
          newBlobs: s.newBlobs,
          packsWritten: s.packsWritten,
        },
      });
      log(
        `  → second push uploaded ${s.bytesUploaded} bytes (${(s.bytesUploaded / MiB).toFixed(2)} MiB; ${s.newBlobs} new chunks, ${(s.newBytes / MiB).toFixed(2)} MiB new plaintext) in ${second.wallS.toFixed(2)} s`,
      );
      await fs.rm(b.dir, { recursive: true, force: true });
    }
    const sorted = runs.map((r) => r.secondPush.bytesUploaded).sort((a, b) => a - b);
    result.editInBigFile = {
      fileBytes: bigMib * MiB,
      runs,
      bytesUploaded: {
        min: sorted[0],
        median: sorted[Math.floor((sorted.length - 1) / 2)],
        max: sorted.at(-1),
      },
      secondPush: runs[Math.floor((runs.length - 1) / 2)].secondPush,
    };
  }

  // 2. Objects for 10,000 small files.
  {
    log(`issue 2: ${smallFiles} small files, one push`);
    const b = backupctl(work, 'small');
    const src = path.join(b.dir, 'src');
    const data = await makeSmallFiles(src, { files: smallFiles, seed: 13 });
    await b.init();
    const before = await repoCounts(b.repo);
    const push = await b.push(src);
    const after = await repoCounts(b.repo);
    result.smallFiles = {
      files: smallFiles,
      bytes: data.bytes,
      wallS: push.wallS,
      maxRssMiB: push.maxRssMiB,
      objectsBefore: before,
      objectsAfter: after,
      objectsCreated: after.total - before.total,
      packsWritten: push.json.summary.packsWritten,
    };
    log(
      `  → ${after.total - before.total} objects created (data ${after.data}, index ${after.index}, snapshots ${after.snapshots}; repository total ${after.total} with keys/ and config) in ${push.wallS.toFixed(2)} s`,
    );
    await fs.rm(b.dir, { recursive: true, force: true });
  }

  // 3. Peak RSS of a push of one 2 GiB file.
  {
    log(`issue 3: push of one ${hugeMib} MiB file`);
    const b = backupctl(work, 'huge');
    const file = path.join(b.dir, 'src', 'huge.bin');
    await makeBigFile(file, { mib: hugeMib, seed: 14 });
    await b.init();
    const push = await b.push(path.dirname(file));
    result.hugeFile = {
      fileBytes: hugeMib * MiB,
      wallS: push.wallS,
      cpuS: (push.userS ?? 0) + (push.sysS ?? 0),
      maxRssMiB: push.maxRssMiB,
      throughputMiBs: hugeMib / push.wallS,
    };
    log(
      `  → peak RSS ${push.maxRssMiB.toFixed(0)} MiB, ${push.wallS.toFixed(2)} s (${(hugeMib / push.wallS).toFixed(0)} MiB/s)`,
    );
    await fs.rm(b.dir, { recursive: true, force: true });
  }
  return result;
}

export function renderIssue(r) {
  const lines = ['', '=== Numbers for the issue (backupctl, local-directory repository) ==='];
  if (r.editInBigFile) {
    const e = r.editInBigFile;
    const m = (b) => `${(b / MiB).toFixed(2)} MiB`;
    const each = e.runs.map(
      (x) =>
        `${m(x.secondPush.bytesUploaded)} (${x.secondPush.newBlobs} chunks, ${x.secondPush.wallS.toFixed(1)} s)`,
    );
    lines.push(
      `1. 1 MiB edit in the middle of a ${(e.fileBytes / MiB / 1024).toFixed(2)} GiB file: second push uploaded median ${e.bytesUploaded.median.toLocaleString('en')} bytes (${m(e.bytesUploaded.median)}; min ${m(e.bytesUploaded.min)}, max ${m(e.bytesUploaded.max)} over ${e.runs.length} fresh repositories: ${each.join(', ')})`,
    );
  }
  if (r.smallFiles) {
    const s = r.smallFiles;
    lines.push(
      `2. ${s.files.toLocaleString('en')} small files (${(s.bytes / MiB).toFixed(1)} MiB): ${s.objectsCreated} objects created — data ${s.objectsAfter.data}, index ${s.objectsAfter.index}, snapshots ${s.objectsAfter.snapshots} (repository total ${s.objectsAfter.total} incl. keys/ and config), ${s.wallS.toFixed(2)} s`,
    );
  }
  if (r.hugeFile) {
    const h = r.hugeFile;
    lines.push(
      `3. push of one ${(h.fileBytes / MiB / 1024).toFixed(2)} GiB file: peak RSS ${h.maxRssMiB.toFixed(0)} MiB, ${h.wallS.toFixed(2)} s wall, ${h.cpuS.toFixed(1)} s CPU (${h.throughputMiBs.toFixed(0)} MiB/s)`,
    );
  }
  return lines.join('\n');
}
