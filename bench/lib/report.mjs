// The results table and the ratios to the best tool of each scenario.
const MiB = 1024 * 1024;

const PUT_OPS = [
  'PutObject',
  'UploadPart',
  'CopyObject',
  'UploadPartCopy',
  'CreateMultipartUpload',
  'CompleteMultipartUpload',
];
const GET_OPS = ['GetObject', 'GetObjectRange'];
const LIST_OPS = ['ListObjectsV2', 'ListObjects', 'ListBuckets', 'ListMultipartUploads', 'ListParts'];
const HEAD_OPS = ['HeadObject', 'HeadBucket'];

/** Requests grouped as the table shows them. */
export function groupOps(ops = {}) {
  const sum = (names) => names.reduce((n, k) => n + (ops[k] ?? 0), 0);
  const total = Object.values(ops).reduce((a, b) => a + b, 0);
  const put = sum(PUT_OPS);
  const get = sum(GET_OPS);
  const head = sum(HEAD_OPS);
  const list = sum(LIST_OPS);
  return { put, get, head, list, other: total - put - get - head - list, total };
}

function fmt(v, digits = 1) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  if (typeof v !== 'number') return String(v);
  return v.toFixed(digits);
}

function table(rows, columns) {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i].length)));
  const line = (vals) =>
    vals.map((v, i) => (columns[i].left ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [line(columns.map((c) => c.title)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join(
    '\n',
  );
}

/** Adds, per (scenario, location) group, each metric's ratio to the group's best. */
export function addRatios(records) {
  const groups = new Map();
  for (const r of records) {
    if (r.error) continue;
    const k = `${r.scenario}|${r.location}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const group of groups.values()) {
    const best = (f) => Math.min(...group.map(f).filter((v) => v !== undefined));
    const metrics = {
      wall: (r) => r.wallS,
      rss: (r) => r.maxRssMiB,
      up: (r) => r.bytesUp,
      requests: (r) => r.requests?.total,
      objects: (r) => r.objectsDelta,
    };
    for (const r of group) {
      r.ratio = {};
      for (const [name, f] of Object.entries(metrics)) {
        const b = best(f);
        r.ratio[name] =
          Number.isFinite(b) && f(r) !== undefined ? (b === 0 ? (f(r) === 0 ? 1 : null) : f(r) / b) : null;
      }
    }
  }
  return records;
}

export function renderTable(records) {
  return table(records, [
    { title: 'scen', left: true, get: (r) => r.scenario },
    { title: 'tool/location', left: true, get: (r) => r.tool },
    { title: 'wall s', get: (r) => (r.error ? 'FAILED' : fmt(r.wallS, 2)) },
    { title: '×best', get: (r) => (r.ratio?.wall == null ? '-' : r.ratio.wall.toFixed(2)) },
    { title: 'cpu s', get: (r) => fmt((r.userS ?? 0) + (r.sysS ?? 0), 1) },
    { title: 'RSS MiB', get: (r) => fmt(r.maxRssMiB, 0) },
    { title: '×best', get: (r) => (r.ratio?.rss == null ? '-' : r.ratio.rss.toFixed(2)) },
    { title: 'up MiB', get: (r) => fmt(r.bytesUp / MiB, 1) },
    { title: 'down MiB', get: (r) => (r.location === 's3' ? fmt(r.bytesDown / MiB, 1) : '-') },
    { title: 'PUT', get: (r) => r.requests?.put ?? '-' },
    { title: 'GET', get: (r) => r.requests?.get ?? '-' },
    { title: 'HEAD', get: (r) => r.requests?.head ?? '-' },
    { title: 'LIST', get: (r) => r.requests?.list ?? '-' },
    { title: 'other', get: (r) => r.requests?.other ?? '-' },
    { title: 'req', get: (r) => r.requests?.total ?? '-' },
    { title: 'objects', get: (r) => r.objectsAfter ?? '-' },
    { title: '+obj', get: (r) => r.objectsDelta ?? '-' },
    {
      title: 'ok',
      left: true,
      get: (r) => (r.verify ? (r.verify.ok ? 'ok' : `BAD ${r.verify.missing}/${r.verify.wrong}`) : ''),
    },
  ]);
}

/** backupctl against the best peer (the best other tool) of each scenario and location. */
export function peerRatios(records) {
  const out = [];
  for (const r of records) {
    if (r.error || !r.tool.startsWith('backupctl/')) continue;
    const peers = records.filter(
      (p) =>
        !p.error &&
        p.scenario === r.scenario &&
        p.location === r.location &&
        !p.tool.startsWith('backupctl/'),
    );
    if (peers.length === 0) continue;
    const bestOf = (f) => {
      let best;
      for (const p of peers) if (f(p) !== undefined && (best === undefined || f(p) < f(best))) best = p;
      return best;
    };
    const entry = { scenario: r.scenario, location: r.location };
    for (const [name, f] of Object.entries({
      wall: (x) => x.wallS,
      cpu: (x) => (x.userS ?? 0) + (x.sysS ?? 0),
      rss: (x) => x.maxRssMiB,
      up: (x) => x.bytesUp,
      requests: (x) => x.requests?.total,
      objects: (x) => x.objectsDelta,
    })) {
      const b = bestOf(f);
      if (!b || f(r) === undefined) continue;
      entry[name] = { value: f(r), best: f(b), bestTool: b.tool, ratio: f(b) === 0 ? null : f(r) / f(b) };
    }
    out.push(entry);
  }
  return out;
}

export function renderPeerRatios(entries) {
  const lines = [];
  for (const e of entries) {
    const parts = [];
    for (const [name, unit] of [
      ['wall', 's'],
      ['cpu', 's'],
      ['rss', 'MiB'],
      ['up', 'B'],
      ['requests', ''],
      ['objects', ''],
    ]) {
      const m = e[name];
      if (!m) continue;
      const v = (x) =>
        unit === 'B'
          ? `${(x / MiB).toFixed(1)}MiB`
          : unit
            ? `${x.toFixed(unit === 's' ? 2 : 0)}${unit}`
            : `${x}`;
      parts.push(
        `${name} ${m.ratio == null ? `${v(m.value)} vs ${v(m.best)}` : `×${m.ratio.toFixed(2)}`} (best ${m.bestTool.split('/')[0]})`,
      );
    }
    lines.push(`  ${e.scenario} ${e.location.padEnd(5)} ${parts.join(', ')}`);
  }
  return lines.join('\n');
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return { median: v[Math.floor(v.length / 2)], min: v[0], max: v.at(-1), n: v.length };
}

/**
 * One record per (scenario, tool): the medians of its rounds (wall, CPU, RSS, bytes added,
 * throughput) with their spread; requests and objects from the round of median wall time.
 */
export function medianRecords(records) {
  const groups = new Map();
  for (const r of records) {
    const k = `${r.scenario}|${r.tool}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out = [];
  for (const rs of groups.values()) {
    const ok = rs.filter((r) => !r.error);
    if (ok.length === 0) {
      out.push({ ...rs[0], n: 0 });
      continue;
    }
    const wall = ok[0].spread?.wall ?? median(ok.map((r) => r.wallS));
    const cpu = median(ok.map((r) => (r.userS === undefined ? undefined : r.userS + (r.sysS ?? 0))));
    const rss = median(ok.map((r) => r.maxRssMiB));
    const up = median(ok.map((r) => r.bytesUp));
    const tput = median(ok.map((r) => r.throughputMiBs));
    const mid = [...ok].sort((a, b) => a.wallS - b.wallS)[Math.floor(ok.length / 2)];
    out.push({
      ...mid,
      round: undefined,
      n: wall.n,
      failed: rs.length - ok.length,
      wallS: wall.median,
      userS: cpu?.median,
      sysS: cpu ? 0 : undefined,
      maxRssMiB: rss?.median,
      bytesUp: up?.median,
      throughputMiBs: tput?.median,
      spread: { wall, cpu, rss, up },
      verify: ok.every((r) => !r.verify || r.verify.ok) ? mid.verify : ok.find((r) => !r.verify?.ok).verify,
    });
  }
  return addRatios(out);
}

const range = (s, d = 2) => (s ? `${s.median.toFixed(d)} [${s.min.toFixed(d)}–${s.max.toFixed(d)}]` : '-');

export function renderMedianTable(records) {
  return table(records, [
    { title: 'scen', left: true, get: (r) => r.scenario },
    { title: 'tool/location', left: true, get: (r) => r.tool },
    { title: 'n', get: (r) => `${r.n}${r.failed ? ` (${r.failed} failed)` : ''}` },
    { title: 'wall s [min–max]', get: (r) => (r.n === 0 ? 'FAILED' : range(r.spread?.wall)) },
    { title: '×best', get: (r) => (r.ratio?.wall == null ? '-' : r.ratio.wall.toFixed(2)) },
    { title: 'cpu s [min–max]', get: (r) => range(r.spread?.cpu, 1) },
    { title: 'RSS MiB [min–max]', get: (r) => range(r.spread?.rss, 0) },
    { title: 'added MiB', get: (r) => fmt(r.bytesUp / MiB, 1) },
    { title: 'down MiB', get: (r) => (r.location === 's3' ? fmt(r.bytesDown / MiB, 1) : '-') },
    { title: 'stored MiB', get: (r) => fmt(r.storedBytes / MiB, 1) },
    { title: 'MiB/s', get: (r) => fmt(r.throughputMiBs, 1) },
    { title: 'req', get: (r) => r.requests?.total ?? '-' },
    {
      title: 'PUT/GET/HEAD/LIST',
      get: (r) =>
        r.requests ? `${r.requests.put}/${r.requests.get}/${r.requests.head}/${r.requests.list}` : '-',
    },
    { title: '+obj', get: (r) => r.objectsDelta ?? '-' },
    {
      title: 'ok',
      left: true,
      get: (r) =>
        r.ratioToNode
          ? `×${r.ratioToNode} node`
          : r.verify
            ? `${r.verify.ok ? 'ok' : `BAD ${r.verify.missing}/${r.verify.wrong}`}${r.verify.linksLost ? ` (${r.verify.linksLost} symlinks lost)` : ''}`
            : '',
    },
  ]);
}

/** backupctl's medians ÷ restic's (default compression) and ÷ restic --compression off's, per scenario and location. */
export function resticRatios(medians) {
  const out = [];
  const metrics = {
    wall: (r) => r.wallS,
    cpu: (r) => r.userS,
    rss: (r) => r.maxRssMiB,
    added: (r) => r.bytesUp,
    stored: (r) => r.storedBytes,
    requests: (r) => r.requests?.total,
  };
  for (const b of medians) {
    if (!b.tool.startsWith('backupctl/') || b.n === 0) continue;
    const peer = (name) =>
      medians.find((m) => m.scenario === b.scenario && m.tool === `${name}/${b.location}` && m.n > 0);
    const entry = { scenario: b.scenario, location: b.location };
    for (const name of ['restic', 'restic-nocomp']) {
      const p = peer(name);
      if (!p) continue;
      entry[name] = {};
      for (const [k, f] of Object.entries(metrics)) {
        const x = f(b);
        const y = f(p);
        entry[name][k] = x === undefined || y === undefined || y === 0 ? null : +(x / y).toFixed(2);
      }
    }
    if (entry.restic || entry['restic-nocomp']) out.push(entry);
  }
  return out;
}

export function renderRestic(entries) {
  const cell = (e, k) => {
    const a = e.restic?.[k];
    const b = e['restic-nocomp']?.[k];
    return `${a == null ? '-' : a.toFixed(2)} / ${b == null ? '-' : b.toFixed(2)}`;
  };
  return table(entries, [
    { title: 'scen', left: true, get: (e) => e.scenario },
    { title: 'location', left: true, get: (e) => e.location },
    { title: 'wall', get: (e) => cell(e, 'wall') },
    { title: 'cpu', get: (e) => cell(e, 'cpu') },
    { title: 'peak RSS', get: (e) => cell(e, 'rss') },
    { title: 'bytes added', get: (e) => cell(e, 'added') },
    { title: 'stored', get: (e) => cell(e, 'stored') },
    { title: 'requests', get: (e) => cell(e, 'requests') },
  ]);
}
