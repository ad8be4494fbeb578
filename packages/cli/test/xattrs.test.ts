import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unprivilegedUserCannotReachBinary } from '../../../test/support/run-backupctl.js';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

beforeAll(() => assertBuilt());

let device: Device | undefined;
afterEach(async () => {
  await device?.remove();
  device = undefined;
});

/** The optional module core uses (absent on Windows): the test sets and reads through it. */
const mod = await import('@napi-rs/xattr').catch(() => undefined);
const isRoot = process.getuid?.() === 0;
const unreachable = isRoot ? unprivilegedUserCannotReachBinary() : 'the tests do not run as root';
const nobody = { uid: 65534, gid: 65534 };

/** Pushed as root (which can read and set trusted.*), then handed to uid 65534 to restore. */
async function setUp(): Promise<{ src: string; target: string }> {
  const m = mod!;
  device = await makeDevice({ mode: 0o777 });
  const src = path.join(device.dir, 'src');
  await mkdir(path.join(src, 'dir'), { recursive: true });
  for (let i = 0; i < 3; i++) {
    const f = path.join(src, `f${i}.txt`);
    await writeFile(f, `file ${i}\n`);
    await m.setAttribute(f, 'user.note', Buffer.from(`note ${i}`));
    await m.setAttribute(f, 'trusted.root-only', Buffer.from('t'));
  }
  await m.setAttribute(path.join(src, 'dir'), 'trusted.root-only', Buffer.from('t'));
  execFileSync('chmod', ['0444', path.join(src, 'f0.txt')]);
  const repo = path.join(device.dir, 'repo');
  const init = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain', '--json']);
  expect(init.code, init.stderr).toBe(0);
  const push = await device.run(['push', '--json']);
  expect(push.code, push.stderr).toBe(0);
  execFileSync('chown', ['-R', `${nobody.uid}:${nobody.gid}`, device.dir]);
  return { src, target: path.join(device.dir, 'restored') };
}

describe.skipIf(!mod || unreachable !== undefined)(
  `xattrs on restore as a non-root user${unreachable ? ` (skipped: ${unreachable})` : ''}`,
  () => {
    it('trusted.* cannot be set: one warning for all entries, exit 0, user.* restored (read-only files too)', async () => {
      const s = await setUp();
      const r = await device!.run(['restore', 'latest', '--target', s.target], {}, nobody);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l.includes('extended attributes'));
      expect(lines).toEqual([
        expect.stringContaining(
          '`trusted.*` extended attributes were not restored on 4 entries: setting them needs root',
        ),
      ]);
      for (let i = 0; i < 3; i++) {
        const f = path.join(s.target, s.src, `f${i}.txt`);
        expect((await mod!.getAttribute(f, 'user.note'))?.toString()).toBe(`note ${i}`);
        expect(await mod!.getAttribute(f, 'trusted.root-only')).toBeNull();
      }
      const json = await device!.run(
        ['restore', 'latest', '--target', `${s.target}-json`, '--json'],
        {},
        nobody,
      );
      expect(json.code, json.stderr).toBe(0);
      expect(json.json<{ warnings: string[] }>().warnings).toEqual([expect.stringContaining('`trusted.*`')]);
    });

    it('where the xattr module is absent, the restore warns once and restores everything else', async () => {
      const s = await setUp();
      const r = await device!.run(
        ['restore', 'latest', '--target', s.target],
        { BACKUPCTL_NO_XATTRS: '1' },
        nobody,
      );
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l.includes('extended attributes'));
      expect(lines).toEqual([
        expect.stringContaining('the snapshot has extended attributes (xattrs/ACLs) on 4 entries'),
      ]);
      expect(mod!.listAttributesSync(path.join(s.target, s.src, 'f1.txt'))).toEqual([]);
    });
  },
);
