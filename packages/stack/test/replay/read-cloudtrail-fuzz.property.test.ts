import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCloudTrailRecords } from '../../src/replay/read-cloudtrail-records.js';
import { ReplayError } from '../../src/replay/replay-error.js';

/**
 * Fuzzing the CloudTrail reader (issue 11): any file content — random bytes, JSON of any
 * shape, JSON lines, gzip of those, gzip cut short — yields records or throws a ReplayError
 * naming the file. Never another exception.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bk-trail-fuzz-'));
});

const record = fc.dictionary(
  fc.constantFrom('eventName', 'eventSource', 'userIdentity', 'errorCode', 'x'),
  fc.jsonValue(),
);
const content = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')),
  fc.array(record, { maxLength: 5 }).map((r) => Buffer.from(JSON.stringify({ Records: r }))),
  fc
    .array(
      fc.oneof(
        record.map((r) => JSON.stringify(r)),
        fc.string(),
      ),
      { maxLength: 6 },
    )
    .map((l) => Buffer.from(l.join('\n'))),
);
const file = fc.oneof(
  content,
  content.map((b) => gzipSync(b)),
  fc.tuple(content, fc.nat()).map(([b, n]) => {
    const z = gzipSync(b);
    return z.subarray(0, Math.max(2, n % z.length));
  }),
);

describe('CloudTrail reader under fuzzing', () => {
  it('yields records or throws ReplayError', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(file, async (bytes) => {
        const at = path.join(dir, `f-${n++}`);
        await writeFile(at, bytes);
        try {
          for await (const located of readCloudTrailRecords(at)) {
            expect(typeof located.record).toBe('object');
            expect(located.location).toContain(at);
          }
        } catch (error) {
          expect(error, String(error)).toBeInstanceOf(ReplayError);
        }
      }),
      { numRuns: 400 },
    );
  });
});
