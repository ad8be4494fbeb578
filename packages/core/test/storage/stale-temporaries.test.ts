import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/storage/local-backend.js';

/** How a temporary file's name spells this host (staged-file.ts). */
function hostTag(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_.]/g, '_')
      .slice(0, 64) || 'host'
  );
}

describe('LocalBackend.removeStaleTemporaries (.tmp/*.part of killed pushes)', () => {
  it('removes a dead writer’s and day-old parts, never a live writer’s', async () => {
    const root = await fs.mkdtemp(path.join(tmpdir(), 'bk-tmp-'));
    const backend = new LocalBackend(root);
    await backend.putIfAbsent('config', Buffer.from('{}'));
    const dir = path.join(root, '.tmp');
    const host = hostTag();
    // A pid that certainly existed and is gone now.
    const dead = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    const names = {
      dead: `${host}-${dead}.0123456789abcdef.part`,
      live: `${host}-${process.pid}.0123456789abcdef.part`,
      otherHostFresh: `other-host-1.0123456789abcdef.part`,
      otherHostOld: `other-host-2.0123456789abcdef.part`,
      legacyOld: `0123456789abcdef.part`,
      notAPart: 'keep-me.txt',
    };
    for (const name of Object.values(names)) await fs.writeFile(path.join(dir, name), 'x');
    const twoDaysAgo = (Date.now() - 2 * 86_400_000) / 1000;
    await fs.utimes(path.join(dir, names.otherHostOld), twoDaysAgo, twoDaysAgo);
    await fs.utimes(path.join(dir, names.legacyOld), twoDaysAgo, twoDaysAgo);
    await fs.utimes(path.join(dir, names.notAPart), twoDaysAgo, twoDaysAgo);

    expect(await backend.removeStaleTemporaries()).toBe(3);
    expect((await fs.readdir(dir)).sort()).toEqual([names.live, names.otherHostFresh, names.notAPart].sort());
  });

  it.skipIf(process.platform !== 'linux')(
    'removes a part whose writer is a zombie (killed, not reaped yet)',
    async () => {
      // A killed push's process, orphaned in a container whose PID 1 reaps late, stays a
      // zombie for a while: it still answers kill(pid, 0) but writes nothing more. Here its
      // parent is a node whose event loop is blocked, so it never reaps it while the test runs.
      const parent = spawn(
        process.execPath,
        [
          '-e',
          `const c = require('node:child_process').spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
         c.once('spawn', () => { process.stdout.write(c.pid + '\\n'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000); });`,
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      try {
        const [pidLine] = (await once(parent.stdout, 'data')) as [Buffer];
        const zombie = Number(pidLine.toString().trim());
        let state = '';
        while (state !== 'Z') {
          const stat = await fs.readFile(`/proc/${zombie}/stat`, 'utf8');
          state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
          if (state !== 'Z') await sleep(5);
        }
        const root = await fs.mkdtemp(path.join(tmpdir(), 'bk-tmp-'));
        const backend = new LocalBackend(root);
        await backend.putIfAbsent('config', Buffer.from('{}'));
        const part = path.join(root, '.tmp', `${hostTag()}-${zombie}.0123456789abcdef.part`);
        await fs.writeFile(part, 'x');

        expect(await backend.removeStaleTemporaries()).toBe(1);
        expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
      } finally {
        parent.kill('SIGKILL');
      }
    },
  );

  it('a failed write leaves no part behind', async () => {
    const root = await fs.mkdtemp(path.join(tmpdir(), 'bk-tmp-'));
    const backend = new LocalBackend(root);
    await backend.putIfAbsent('config', Buffer.from('{}'));
    // A body the file system refuses mid-write is hard to make portably; a body that is not
    // bytes fails inside writeFile, after the part was created.
    await expect(backend.putIfAbsent('index/x', 42 as unknown as Uint8Array)).rejects.toThrow();
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
  });
});
