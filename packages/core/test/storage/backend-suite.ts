import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BackupctlError } from '../../src/errors/index.js';
import type { Backend } from '../../src/storage/backend.js';

/**
 * The one storage contract, run against every backend (restic's backend/test/suite.go is
 * the model). `make` returns a fresh, empty backend for each test.
 */
export function backendSuite(name: string, make: () => Promise<Backend>): void {
  describe(`${name} backend contract`, () => {
    it('stores an object once and never overwrites it', async () => {
      const backend = await make();
      const first = randomBytes(1000);
      expect(await backend.putIfAbsent('data/ab/object', first)).toBe('created');
      expect(await backend.putIfAbsent('data/ab/object', randomBytes(10))).toBe('exists');
      expect(Buffer.compare(await backend.get('data/ab/object'), first)).toBe(0);
    });

    it('reads a byte range', async () => {
      const backend = await make();
      const body = randomBytes(5000);
      await backend.putIfAbsent('data/cd/ranged', body);
      const part = await backend.get('data/cd/ranged', { offset: 1234, length: 100 });
      expect(Buffer.compare(part, body.subarray(1234, 1334))).toBe(0);
    });

    it('streams an object or a byte range in order, where it can (getStream)', async (ctx) => {
      const backend = await make();
      if (!backend.getStream) return ctx.skip();
      // Larger than a socket's or a stream's buffer: it comes in several pieces.
      const body = randomBytes(3 * 1024 * 1024 + 17);
      await backend.putIfAbsent('data/ef/streamed', body);
      const collect = async (pieces: AsyncIterable<Uint8Array>) => {
        const out: Buffer[] = [];
        for await (const piece of pieces) out.push(Buffer.from(piece));
        return Buffer.concat(out);
      };
      expect(Buffer.compare(await collect(await backend.getStream('data/ef/streamed')), body)).toBe(0);
      const range = { offset: 1_000_001, length: 2_000_000 };
      const part = await collect(await backend.getStream('data/ef/streamed', range));
      expect(Buffer.compare(part, body.subarray(range.offset, range.offset + range.length))).toBe(0);
      // A reader that stops early lets go of the body; the next read is whole.
      for await (const _ of await backend.getStream('data/ef/streamed')) break;
      expect((await collect(await backend.getStream('data/ef/streamed'))).length).toBe(body.length);
      const error = await backend.getStream('index/missing').catch((e: unknown) => e);
      expect(BackupctlError.is(error) && error.code).toBe('OBJECT_NOT_FOUND');
    });

    it('stores an empty object', async () => {
      const backend = await make();
      await backend.putIfAbsent('snapshots/empty', new Uint8Array());
      expect((await backend.get('snapshots/empty')).length).toBe(0);
      expect(await backend.stat('snapshots/empty')).toEqual({ key: 'snapshots/empty', size: 0 });
    });

    it('reports a missing object as OBJECT_NOT_FOUND and stat as undefined', async () => {
      const backend = await make();
      const error = await backend.get('index/missing').catch((e: unknown) => e);
      expect(BackupctlError.is(error) && error.code).toBe('OBJECT_NOT_FOUND');
      expect(await backend.stat('index/missing')).toBeUndefined();
    });

    it('lists by prefix, with sizes, across nested folders', async () => {
      const backend = await make();
      await backend.putIfAbsent('data/00/a', Buffer.from('1'));
      await backend.putIfAbsent('data/ff/b', Buffer.from('22'));
      await backend.putIfAbsent('index/c', Buffer.from('333'));
      await backend.putIfAbsent('config', Buffer.from('4444'));
      const collect = async (prefix: string) => {
        const out = [];
        for await (const info of backend.list(prefix)) out.push(info);
        return out.sort((a, b) => a.key.localeCompare(b.key));
      };
      expect(await collect('data/')).toEqual([
        { key: 'data/00/a', size: 1 },
        { key: 'data/ff/b', size: 2 },
      ]);
      expect(await collect('index/')).toEqual([{ key: 'index/c', size: 3 }]);
      expect((await collect('')).map((o) => o.key)).toEqual(['config', 'data/00/a', 'data/ff/b', 'index/c']);
      expect(await collect('keys/')).toEqual([]);
    });

    it('lists more than one page of objects', async () => {
      const backend = await make();
      const keys = Array.from({ length: 1100 }, (_, i) => `snapshots/${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((k) => backend.putIfAbsent(k, Buffer.from(k))));
      }
      let count = 0;
      for await (const _ of backend.list('snapshots/')) count++;
      expect(count).toBe(1100);
    });

    it('rejects keys that could escape the repository', async () => {
      const backend = await make();
      for (const bad of ['../x', '/abs', 'a//b', 'a/./b', 'a/../b', '']) {
        await expect(backend.putIfAbsent(bad, Buffer.from('x'))).rejects.toThrow(/invalid repository key/);
      }
    });

    it('lets exactly one of many concurrent creators win, and keeps its bytes', async () => {
      const backend = await make();
      for (const round of [0, 1, 2]) {
        const key = `keys/race-${round}`;
        const bodies = Array.from({ length: 8 }, (_, i) => `writer-${i}`);
        const results = await Promise.all(bodies.map((b) => backend.putIfAbsent(key, Buffer.from(b))));
        expect(results.filter((r) => r === 'created')).toHaveLength(1);
        expect(results.filter((r) => r === 'exists')).toHaveLength(bodies.length - 1);
        // The stored bytes are the winner's, whole.
        const winner = bodies[results.indexOf('created')];
        expect((await backend.get(key)).toString()).toBe(winner);
      }
    });
  });
}
