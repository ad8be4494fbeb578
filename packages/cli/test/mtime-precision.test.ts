import { execFileSync } from 'node:child_process';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { utimePrecision } from '@backupctl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

// CI runs this file on Node 20 (libuv truncates times to the microsecond) and on Node 24
// (libuv 1.52 keeps what the double holds): each must restore as close as its runtime can.
describe('restore sets mtimes as precisely as the runtime allows', () => {
  let device: Device;
  beforeAll(async () => {
    assertBuilt();
    device = await makeDevice();
  });
  afterAll(async () => {
    await device?.remove();
  });

  it('a nanosecond mtime comes back to the microsecond below it, or within 120 ns', async () => {
    const src = path.join(device.dir, 'src');
    await mkdir(src);
    const file = path.join(src, 'precise.txt');
    await writeFile(file, 'precise\n');
    // touch sets nanoseconds (utimensat); 1.7e9 s: a double there is spaced 238 ns apart.
    execFileSync('touch', ['-d', '@1700000000.987654321', file]);
    const stored = (await lstat(file, { bigint: true })).mtimeNs;
    expect(stored).toBe(1700000000987654321n);
    const repo = path.join(device.dir, 'repo');
    expect((await device.run(['init', '--repo', repo, '--path', src, '--no-keychain'])).code).toBe(0);
    const pushed = await device.run(['push']);
    expect(pushed.code, pushed.stderr).toBe(0);
    const target = path.join(device.dir, 'restored');
    const restored = await device.run(['restore', 'latest', '--target', target]);
    expect(restored.code, restored.stderr).toBe(0);
    const got = (await lstat(path.join(target, file), { bigint: true })).mtimeNs;
    if (utimePrecision() === 'microsecond') {
      expect(got).toBe(1700000000987654000n);
    } else {
      const diff = got > stored ? got - stored : stored - got;
      expect(diff, `restored ${got} for ${stored}`).toBeLessThanOrEqual(120n);
    }
    // A second restore into the same target finds the file as restore left it: unchanged.
    const again = await device.run(['restore', 'latest', '--target', target, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/"unchanged":\s*[1-9]/);
  });
});
