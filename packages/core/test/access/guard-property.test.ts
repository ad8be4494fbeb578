import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCommandAccess, installAccessGuard } from '../../src/access/guard-middleware.js';
import { BackupctlError } from '../../src/errors/backupctl-error.js';

const BUCKET = 'prop-bucket';
const PREFIX = 'devices/laptop/';
const scope = { bucket: BUCKET, prefix: PREFIX };

/** File-like names: unicode, dot segments, slashes, very long, percent signs. */
const piece = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom(
    '..',
    '.',
    '',
    '/',
    '//',
    '\\',
    '%2e%2e',
    '%2F',
    '..%2f',
    '~',
    ' ',
    '\u0000',
    '\u202e',
    'ＮＦ',
    '．．',
  ),
  fc.string({ unit: fc.constantFrom('a', '.', '/', '\\'), maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
const name = fc.oneof(
  fc.array(piece, { maxLength: 6 }).map((parts) => parts.join('/')),
  fc.array(piece, { maxLength: 6 }).map((parts) => parts.join('')),
  fc.string({ unit: 'grapheme-ascii', minLength: 900, maxLength: 1100 }),
);
/** Candidate keys: the name under the prefix, at the root, with a leading slash, escaping, other devices. */
const key = fc.oneof(
  name.map((n) => PREFIX + n),
  name,
  name.map((n) => `/${PREFIX}${n}`),
  name.map((n) => `${PREFIX}../${n}`),
  name.map((n) => `devices/laptop${n}`),
  name.map((n) => `devices/${n}/x`),
);

function isRefusal(error: unknown): boolean {
  return BackupctlError.is(error) && error.code === 'ACCESS_REFUSED_LOCALLY';
}

/** A client whose HTTP handler captures the request instead of sending it. */
function capturingClient(): {
  client: S3Client;
  sent: Array<{ path: string; query: Record<string, unknown> }>;
} {
  const sent: Array<{ path: string; query: Record<string, unknown> }> = [];
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    requestHandler: {
      handle: async (request: { path: string; query: Record<string, unknown> }) => {
        sent.push({ path: request.path, query: request.query });
        throw Object.assign(new Error('captured, not sent'), { name: 'Captured' });
      },
    } as never,
  });
  installAccessGuard(client, scope);
  return { client, sent };
}

/** The object key a server sees for a path-style request, after URL normalisation. */
function keyOnTheWire(requestPath: string): string | undefined {
  // What an HTTP stack or server would make of the path: dot segments resolved.
  const resolved = new URL(requestPath, 'http://127.0.0.1').pathname;
  const prefix = `/${BUCKET}/`;
  if (!resolved.startsWith(prefix)) return undefined;
  return decodeURIComponent(resolved.slice(prefix.length));
}

describe('access guard, property: whatever it lets through stays under the device prefix', () => {
  it('checkCommandAccess: every accepted key or listing prefix is under devices/laptop/', () => {
    fc.assert(
      fc.property(
        key,
        fc.constantFrom('PutObjectCommand', 'GetObjectCommand', 'HeadObjectCommand'),
        (k, command) => {
          try {
            const request = checkCommandAccess(command, { Bucket: BUCKET, Key: k, IfNoneMatch: '*' }, scope);
            expect(k.startsWith(PREFIX)).toBe(true);
            expect(k.length).toBeGreaterThan(PREFIX.length);
            expect(k.split('/')).not.toContain('..');
            expect(k.split('/')).not.toContain('.');
            expect(k.split('/')).not.toContain('');
            expect(request.resource).toBe(`arn:aws:s3:::${BUCKET}/${k}`);
          } catch (error) {
            if (!isRefusal(error)) throw error;
          }
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(key, (p) => {
        try {
          const request = checkCommandAccess('ListObjectsV2Command', { Bucket: BUCKET, Prefix: p }, scope);
          expect(p.startsWith(PREFIX)).toBe(true);
          expect(p.split('/')).not.toContain('..');
          expect(request.context['s3:prefix']).toBe(p);
        } catch (error) {
          if (!isRefusal(error)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('the SDK request built for an accepted key addresses exactly that key, under the prefix', async () => {
    await fc.assert(
      fc.asyncProperty(key, fc.constantFrom('put', 'get', 'list'), async (k, kind) => {
        const { client, sent } = capturingClient();
        const command =
          kind === 'put'
            ? new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: 'x', ContentLength: 1, IfNoneMatch: '*' })
            : kind === 'get'
              ? new GetObjectCommand({ Bucket: BUCKET, Key: k })
              : new ListObjectsV2Command({ Bucket: BUCKET, Prefix: k });
        const error = await client.send(command as never).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (isRefusal(error)) {
          expect(sent).toEqual([]);
          return;
        }
        // Not refused: it reached the (capturing) handler exactly once.
        expect((error as Error | undefined)?.name, String(error)).toBe('Captured');
        expect(sent).toHaveLength(1);
        const request = sent[0]!;
        if (kind === 'list') {
          expect(keyOnTheWire(request.path)).toBe('');
          expect(String(request.query.prefix).startsWith(PREFIX)).toBe(true);
        } else {
          const onWire = keyOnTheWire(request.path);
          expect(onWire).toBe(k);
          expect(onWire?.startsWith(PREFIX)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });
});
