import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TMP_SUFFIX, tmpNameFor } from '../../src/restore/safe-fs.js';

describe('tmpNameFor: the fixed temporary name beside a file', () => {
  it('a text name and the same name as bytes give the same temporary name', () => {
    for (const dest of [
      path.join('/t', 'a.txt'),
      path.join('/t', 'dir', 'été ✓.md'),
      path.join('/t', 'x'.repeat(200)),
      path.join('/t', 'é'.repeat(100)),
      path.join('/t', 'é'.repeat(101)),
      path.join('/t', 'y'.repeat(255)),
    ]) {
      const text = tmpNameFor(dest);
      expect(typeof text).toBe('string');
      expect(text).toBe((tmpNameFor(Buffer.from(dest)) as Buffer).toString());
      expect(path.dirname(text as string)).toBe(path.dirname(dest));
      expect((text as string).endsWith(TMP_SUFFIX)).toBe(true);
    }
  });

  it('names of more than 200 bytes are shortened to a hash, so the temporary name fits', () => {
    const long = tmpNameFor(path.join('/t', 'é'.repeat(101))) as string;
    expect(path.basename(long)).toMatch(/^\.[0-9a-f]{16}\.backupctl-restore$/);
    expect(path.basename(tmpNameFor(path.join('/t', 'é'.repeat(100))) as string)).toBe(
      `.${'é'.repeat(100)}${TMP_SUFFIX}`,
    );
  });
});
