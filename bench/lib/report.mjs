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
