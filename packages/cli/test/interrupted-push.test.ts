import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, makeDeviceWithSource } from './support/cli.js';

const FILES = 6;
const FILE_BYTES = 10 * 1024 * 1024;
const TOTAL = FILES * FILE_BYTES;
/** The default pack size: the first pack appears after about this much new data. */
const PACK = 16 * 1024 * 1024;

async function packsIn(dataDir: string, minBytes = 0): Promise<string[]> {
  if (!existsSync(dataDir)) return [];
  const out: string[] = [];
  for (const sub of await readdir(dataDir)) {
    for (const name of await readdir(path.join(dataDir, sub))) {
      if ((await stat(path.join(dataDir, sub, name))).size >= minBytes) out.push(name);
    }
  }
  return out;
}

/** The child processes of `pid` (Linux; none elsewhere). */
function childrenOf(pid: number | undefined): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('a push killed with SIGKILL mid-way', () => {
  let device: Device;
  let src: string;
  let repo: string;
  let repositoryId: string;
  const sha: string[] = [];

  beforeAll(async () => {
    ({ device, src, repo } = await makeDeviceWithSource());
    // Random data: nothing deduplicates or compresses, every byte must be stored.
    for (let i = 0; i < FILES; i++) {
      const data = randomBytes(FILE_BYTES);
      sha.push(createHash('sha256').update(data).digest('hex'));
      await writeFile(path.join(src, `file-${i}.bin`), data);
    }
    const init = await device.run(['init', '--repo', repo, '--path', src, '--no-keychain', '--json']);
    expect(init.code, init.stderr).toBe(0);
    repositoryId = init.json<{ repositoryId: string }>().repositoryId;
  });
  afterAll(async () => {
    await device?.remove();
  });

  it('leaves packs and a stale lock, which check accepts; the next push recovers them', async () => {
    const running = device.spawn(['push', '--json']);
    // Kill as soon as the first complete data pack is in repo/data (the local backend
    // links a pack into place only once it is whole; the small tree pack may land first).
    // No timing: we wait on the event itself.
    while ((await packsIn(path.join(repo, 'data'), 1024 * 1024)).length === 0) {
      if (running.child.exitCode !== null) break;
      await sleep(10);
    }
    // On Linux the push may run in a child of the process started, with memory settings
    // (src/launch/memory-tuning.ts): that one holds the lock, and dies with it.
    const pushers = [running.child.pid, ...childrenOf(running.child.pid)];
    running.child.kill('SIGKILL');
    const killed = await running.result;
    expect(killed.signal, `the push ended on its own first: ${killed.stderr}`).toBe('SIGKILL');
    const leftover = await packsIn(path.join(repo, 'data'));
    expect(leftover.length).toBeGreaterThanOrEqual(1);
    // Data packs are ~16 MiB; what they hold is what the next push must not upload again.
    const dataPacks = (await packsIn(path.join(repo, 'data'), 1024 * 1024)).length;
    expect(dataPacks).toBeGreaterThanOrEqual(1);
    const snapshots = path.join(repo, 'snapshots');
    expect(existsSync(snapshots) ? await readdir(snapshots) : []).toEqual([]);
    const lock = path.join(device.env.BACKUPCTL_CACHE_DIR as string, repositoryId, 'lock');
    expect(existsSync(lock)).toBe(true);
    expect(pushers).toContain(JSON.parse(await readFile(lock, 'utf8')).pid);

    // The repository is sound: the packs are merely not indexed yet.
    const check = await device.run(['check', '--json']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.json<{ ok: boolean; unindexedPacks: number }>()).toMatchObject({
      ok: true,
      unindexedPacks: leftover.length,
    });

    // The next push clears the stale lock, indexes the packs and does not upload them again.
    const next = await device.run(['push', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const doc = next.json<{ recoveredPacks: number; summary: Record<string, number> }>();
    expect(doc.recoveredPacks).toBe(leftover.length);
    expect(doc.summary.files).toBe(FILES);
    expect(doc.summary.bytes).toBe(TOTAL);
    expect(doc.summary.bytesUploaded).toBeLessThan(TOTAL - (PACK * dataPacks * 9) / 10);
    expect(doc.summary.newBytes).toBeLessThan(TOTAL - (PACK * dataPacks * 9) / 10);
    expect(existsSync(lock)).toBe(false);
    // The pack the killed push was writing (a temporary file in .tmp/) is gone, and no
    // temporary file of the second push is left either.
    const tmpDir = path.join(repo, '.tmp');
    expect((existsSync(tmpDir) ? await readdir(tmpDir) : []).filter((n) => n.endsWith('.part'))).toEqual([]);

    const after = await device.run(['check', '--json']);
    expect(after.json<{ ok: boolean; unindexedPacks: number }>()).toMatchObject({
      ok: true,
      unindexedPacks: 0,
    });

    // The first file's content came from the recovered packs: it restores intact.
    const target = path.join(device.dir, 'restored');
    const restore = await device.run([
      'restore',
      'latest',
      '--target',
      target,
      '--include',
      path.join(src, 'file-0.bin'),
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    const restored = await readFile(path.join(target, src, 'file-0.bin'));
    expect(createHash('sha256').update(restored).digest('hex')).toBe(sha[0]);
  });
});
