import { promises as fs } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRestoredTime, utimeArg, utimePrecision } from '../../src/restore/utime-precision.js';
import { tmp } from './helpers.js';

describe('utimeArg: the numeric string that libuv truncates onto the stored time', () => {
  it('microsecond runtimes: half a microsecond above the floor, also before 1970', () => {
    expect(utimeArg('1700000000987654321', 'microsecond')).toBe('1700000000.9876545');
    expect(utimeArg('-315619199123456789', 'microsecond')).toBe('-315619199.1234575');
    expect(utimeArg('-1000001500', 'microsecond')).toBe('-1.0000025');
    expect(utimeArg('0', 'microsecond')).toBe('0.0000005');
  });

  it('nanosecond runtimes: half a nanosecond away from zero', () => {
    expect(utimeArg('1700000000987654321', 'double')).toBe('1700000000.9876543215');
    expect(utimeArg('-1000000300', 'double')).toBe('-1.0000003005');
    expect(utimeArg('700', 'double')).toBe('0.0000007005');
  });

  it('the digit-cutting path for times after 1970 gives what the arithmetic gives', () => {
    // The arithmetic, written out on BigInt (the path for times before 1970 and below 1 s).
    const reference = (ns: bigint, digits: 6 | 9) => {
      const units = digits === 6 ? ns / 1000n : ns;
      const tenths = units * 10n + 5n;
      const scale = 10n ** BigInt(digits + 1);
      return `${tenths / scale}.${(tenths % scale).toString().padStart(digits + 1, '0')}`;
    };
    fc.assert(
      fc.property(fc.bigInt({ min: 1_000_000_000n, max: 10n ** 20n }), (ns) => {
        expect(utimeArg(String(ns), 'microsecond')).toBe(reference(ns, 6));
        expect(utimeArg(String(ns), 'double')).toBe(reference(ns, 9));
      }),
    );
    expect(utimeArg('1000000000', 'microsecond')).toBe('1.0000005');
    expect(utimeArg('1700000000000000999', 'microsecond')).toBe('1700000000.0000005');
  });
});

describe('isRestoredTime: what restore set for a stored time', () => {
  it('the same microsecond, or within one where the runtime keeps nanoseconds', () => {
    expect(isRestoredTime(1700000000987654000n, 1700000000987654321n)).toBe(true);
    expect(isRestoredTime(1700000000987654999n, 1700000000987655001n)).toBe(true);
    expect(isRestoredTime(1700000000987653000n, 1700000000987654321n)).toBe(false);
    expect(isRestoredTime(1700000001987654321n, 1700000000987654321n)).toBe(false);
  });
});

describe('utimePrecision: what this runtime really sets', () => {
  it('matches what utimes does to a file here', async () => {
    const dir = await tmp('utime');
    const file = path.join(dir, 'f');
    await fs.writeFile(file, '');
    const stored = 1_000_000_123n; // 1.000000123 s: exact in a double's reach
    const arg = utimeArg(String(stored));
    await fs.utimes(file, arg as unknown as number, arg as unknown as number);
    const got = (await fs.stat(file, { bigint: true })).mtimeNs;
    expect(got).toBe(utimePrecision() === 'double' ? stored : 1_000_000_000n);
  });
});
