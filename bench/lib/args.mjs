// The command line of `npm run bench` (bench/run.mjs). Unknown arguments are refused;
// a flag that takes a value refuses a missing one.

/** Flags without a value. */
export const SWITCHES = ['--issue', '--no-issue', '--keep', '--quick', '--list'];
/** Flags with a value: --json FILE, --scenarios LIST, --repeat N. */
export const VALUED = ['--json', '--scenarios', '--repeat'];

export class UsageError extends Error {}

/**
 * Parses the bench's arguments: { issue, keep, quick, list, json, scenarios, repeat }.
 * `--flag=value` is accepted as well as `--flag value`. Throws UsageError.
 */
export function parseArgs(argv) {
  const out = { issue: undefined, keep: false, quick: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let value;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    if (SWITCHES.includes(a) && value === undefined) {
      if (a === '--issue') out.issue = 'only';
      else if (a === '--no-issue') out.issue = 'no';
      else out[a.slice(2)] = true;
      continue;
    }
    if (!VALUED.includes(a)) {
      throw new UsageError(
        `unknown argument ${JSON.stringify(argv[i])} (known: ${[...SWITCHES, ...VALUED.map((v) => `${v} VALUE`)].join(' ')})`,
      );
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${a} needs a value`);
    }
    if (a === '--json') out.json = value;
    else if (a === '--scenarios') out.scenarios = splitList(value);
    else if (a === '--repeat') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1)
        throw new UsageError(`--repeat needs a whole number ≥ 1, not ${value}`);
      out.repeat = n;
    }
  }
  return out;
}

export function splitList(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Median, min, max, n of numbers (the upper median for an even count, as before). */
export function stats(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return { median: v[Math.floor(v.length / 2)], min: v[0], max: v.at(-1), n: v.length };
}
