import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { push } from '../../src/operations/push.js';
import { restore } from '../../src/operations/restore.js';
import { utimePrecision } from '../../src/restore/utime-precision.js';
import { localRepo, tmp } from './helpers.js';

const isRoot = process.getuid?.() === 0;
/** `touch -d @S.N` sets nanoseconds (utimensat), which no Node API can. */
const touch = (p: string, at: string) => execFileSync('touch', ['-h', '-d', `@${at}`, p]);

async function roundTrip(build: (src: string) => Promise<void>): Promise<{ src: string; restored: string }> {
  const { repo, cache } = await localRepo();
  const src = await tmp('src');
  await build(src);
  const snap = await push(repo, cache, { paths: [src], host: 'test' });
  expect(snap.warnings).toEqual([]);
  const target = await tmp('target');
  const result = await restore(repo, cache, { snapshot: snap.snapshotId, target });
  expect(result.failed).toEqual([]);
  expect(result.conflicts).toEqual([]);
  return { src, restored: path.join(target, src) };
}

describe('restore keeps what restic keeps', () => {
  it('pre-1970 mtimes, and mtimes as precise as the runtime sets them', async () => {
    const { restored } = await roundTrip(async (src) => {
      await fs.writeFile(path.join(src, 'old.txt'), 'old\n');
      await fs.writeFile(path.join(src, 'precise.txt'), 'precise\n');
      await fs.mkdir(path.join(src, 'old-dir'));
      await fs.symlink('old.txt', path.join(src, 'old-link'));
      touch(path.join(src, 'old.txt'), '-315619199.123456789');
      touch(path.join(src, 'precise.txt'), '1700000000.987654321');
      touch(path.join(src, 'old-link'), '-1.000001500');
      touch(path.join(src, 'old-dir'), '-86400.5');
    });
    const mtime = async (rel: string) => (await fs.lstat(path.join(restored, rel), { bigint: true })).mtimeNs;
    const cases: [string, bigint, bigint][] = [
      // [entry, stored, what a microsecond runtime sets: the microsecond below (floor)]
      ['old.txt', -315619199123456789n, -315619199123457000n],
      ['precise.txt', 1700000000987654321n, 1700000000987654000n],
      ['old-link', -1000001500n, -1000002000n],
      ['old-dir', -86400500000000n, -86400500000000n],
    ];
    for (const [rel, stored, floor] of cases) {
      const got = await mtime(rel);
      if (utimePrecision() === 'microsecond') {
        expect(got, rel).toBe(floor);
      } else {
        // Node 24 (libuv 1.52): what a double holds, within 120 ns at today's dates.
        const diff = got > stored ? got - stored : stored - got;
        expect(diff, `${rel}: ${got} for ${stored}`).toBeLessThanOrEqual(120n);
      }
    }
  });

  it('file and folder names that are not valid UTF-8, and such symlink targets', async () => {
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1
    const bytes = (src: string, ...parts: Buffer[]) =>
      Buffer.concat([Buffer.from(src), ...parts.flatMap((p) => [Buffer.from('/'), p])]);
    let source = '';
    const { restored } = await roundTrip(async (src) => {
      source = src;
      await fs.writeFile(bytes(src, latin1), 'latin-1 name\n');
      await fs.mkdir(bytes(src, Buffer.from([0xff, 0x64])));
      await fs.writeFile(bytes(src, Buffer.from([0xff, 0x64]), Buffer.from([0xfe])), 'inside\n');
      await fs.symlink(latin1, bytes(src, Buffer.from('link')));
    });
    expect(source).not.toBe('');
    expect(await fs.readFile(bytes(restored, latin1), 'utf8')).toBe('latin-1 name\n');
    expect(await fs.readFile(bytes(restored, Buffer.from([0xff, 0x64]), Buffer.from([0xfe])), 'utf8')).toBe(
      'inside\n',
    );
    expect(await fs.readlink(bytes(restored, Buffer.from('link')), { encoding: 'buffer' })).toEqual(latin1);
    expect((await fs.readdir(restored, { encoding: 'buffer' })).map((b) => b.toString('hex')).sort()).toEqual(
      [latin1, Buffer.from([0xff, 0x64]), Buffer.from('link')].map((b) => b.toString('hex')).sort(),
    );
  });

  it('hard links come back as links', async () => {
    const { restored } = await roundTrip(async (src) => {
      await fs.mkdir(path.join(src, 'sub'));
      await fs.writeFile(path.join(src, 'a.bin'), randomBytes(100_000));
      await fs.link(path.join(src, 'a.bin'), path.join(src, 'sub', 'b.bin'));
      await fs.link(path.join(src, 'a.bin'), path.join(src, 'c.bin'));
      await fs.writeFile(path.join(src, 'single.txt'), 'one link\n');
    });
    const a = await fs.stat(path.join(restored, 'a.bin'));
    const b = await fs.stat(path.join(restored, 'sub', 'b.bin'));
    const c = await fs.stat(path.join(restored, 'c.bin'));
    expect(b.ino).toBe(a.ino);
    expect(c.ino).toBe(a.ino);
    expect(a.nlink).toBe(3);
    expect((await fs.stat(path.join(restored, 'single.txt'))).nlink).toBe(1);
  });

  it('sparse files: all-zero chunks come back as holes', async () => {
    const size = 16 * 1024 * 1024;
    const { restored } = await roundTrip(async (src) => {
      const handle = await fs.open(path.join(src, 'sparse.img'), 'w');
      await handle.write(Buffer.from('head'), 0, 4, 0);
      await handle.write(Buffer.from('tail'), 0, 4, size - 4);
      await handle.close();
    });
    const st = await fs.stat(path.join(restored, 'sparse.img'));
    expect(st.size).toBe(size);
    expect(st.blocks * 512).toBeLessThan(size / 4);
    const data = await fs.readFile(path.join(restored, 'sparse.img'));
    expect(data.subarray(0, 4).toString()).toBe('head');
    expect(data.subarray(size - 4).toString()).toBe('tail');
    expect(data.subarray(4, size - 4).every((b) => b === 0)).toBe(true);
  });

  it.runIf(isRoot)('owners (uid/gid) when restore runs as root', async () => {
    const { restored } = await roundTrip(async (src) => {
      await fs.writeFile(path.join(src, 'owned.txt'), 'owned\n', { mode: 0o4755 });
      await fs.chown(path.join(src, 'owned.txt'), 1234, 5678);
      await fs.chmod(path.join(src, 'owned.txt'), 0o4755);
      await fs.mkdir(path.join(src, 'dir'));
      await fs.chown(path.join(src, 'dir'), 4321, 8765);
      await fs.symlink('owned.txt', path.join(src, 'link'));
      await fs.lchown(path.join(src, 'link'), 111, 222);
    });
    const f = await fs.lstat(path.join(restored, 'owned.txt'));
    expect([f.uid, f.gid, f.mode & 0o7777]).toEqual([1234, 5678, 0o4755]);
    const d = await fs.lstat(path.join(restored, 'dir'));
    expect([d.uid, d.gid]).toEqual([4321, 8765]);
    const l = await fs.lstat(path.join(restored, 'link'));
    expect([l.uid, l.gid]).toEqual([111, 222]);
  });
});
