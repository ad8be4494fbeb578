// The command line of `npm run bench` (bench/lib/args.mjs): benchmarks are not tests, but
// what the bench accepts and refuses is (docs/benchmarks.md documents it).
import { expect, it } from 'vitest';
import { parseArgs, stats, UsageError } from '../bench/lib/args.mjs';

it('accepts the documented flags, with a value after a space or an equals sign', () => {
  expect(parseArgs([])).toEqual({ issue: undefined, keep: false, quick: false, list: false });
  expect(
    parseArgs([
      '--quick',
      '--json',
      'out.json',
      '--scenarios',
      'r, rb,,k',
      '--repeat=5',
      '--keep',
      '--no-issue',
    ]),
  ).toEqual({
    issue: 'no',
    keep: true,
    quick: true,
    list: false,
    json: 'out.json',
    scenarios: ['r', 'rb', 'k'],
    repeat: 5,
  });
  expect(parseArgs(['--issue']).issue).toBe('only');
  expect(parseArgs(['--list']).list).toBe(true);
});

it.each([
  [['--quik'], /unknown argument "--quik"/],
  [['quick'], /unknown argument "quick"/],
  [['--json'], /--json needs a value/],
  [['--json', '--quick'], /--json needs a value/],
  [['--repeat', '0'], /whole number/],
  [['--repeat', '2.5'], /whole number/],
  [['--quick=yes'], /unknown argument/],
])('refuses %j', (argv, message) => {
  expect(() => parseArgs(argv)).toThrow(UsageError);
  expect(() => parseArgs(argv)).toThrow(message);
});

it('reports the median and the spread of the rounds, ignoring failed ones', () => {
  expect(stats([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
  expect(stats([4, undefined, 1, Number.NaN])).toEqual({ median: 4, min: 1, max: 4, n: 2 });
  expect(stats([])).toBeUndefined();
});
