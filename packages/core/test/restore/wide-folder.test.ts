import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { restore } from '../../src/operations/restore.js';
import { type CraftedFile, craftSnapshot, localRepo, tmp } from './helpers.js';

/*
 * Regression: a restore of 1,000,000 files failed with "Maximum call stack size exceeded".
 * The old plan (restore/plan.ts before the bounded restore) flattened the trees with
 * `out.push(entry, ...below)`: every entry below a folder became one call argument, which
 * overflows V8 once a folder holds more than about 120,000 entries below it — before a file
 * was written. Here one folder holds 200,000 (empty) files below it, in 200 folders of 1,000.
 * Writing 200,000 files takes minutes on a slow disk, so the target already holds a file
 * where 199 of those folders go (the user's, left alone under the default `never`): the
 * restore walks every tree and decides on every folder, but writes one folder of 1,000 files.
 */
const FOLDERS = 200;
const PER_FOLDER = 1000;

describe('restore of a folder with 200,000 entries below it', () => {
  it('restores without a list of everything below the folder (no stack overflow)', async () => {
    const { repo, cache, repoDir } = await localRepo();
    const folders: CraftedFile[] = [];
    for (let d = 0; d < FOLDERS; d++) {
      const files: CraftedFile[] = [];
      for (let f = 0; f < PER_FOLDER; f++) files.push({ name: `f${f}` });
      folders.push({ name: `d${d}`, children: files });
    }
    const snapshot = await craftSnapshot(repo, [{ name: 'group', children: folders }]);

    const target = await tmp('target');
    onTestFinished(async () => {
      for (const dir of [repoDir, target]) await fs.rm(dir, { recursive: true, force: true });
    });
    const group = path.join(target, 'group');
    await fs.mkdir(group);
    for (let d = 1; d < FOLDERS; d++) await fs.writeFile(path.join(group, `d${d}`), `mine ${d}`);

    const result = await restore(repo, cache, { snapshot, target });

    expect(result.failed).toEqual([]);
    expect(result.files).toBe(PER_FOLDER);
    expect(result.conflicts.map((c) => c.path).sort()).toEqual(
      Array.from({ length: FOLDERS - 1 }, (_, i) => `/group/d${i + 1}`).sort(),
    );
    const restored = await fs.readdir(path.join(group, 'd0'));
    expect(restored.length).toBe(PER_FOLDER);
    expect((await fs.stat(path.join(group, 'd0', 'f999'))).size).toBe(0);
    expect(await fs.readFile(path.join(group, 'd7'), 'utf8')).toBe('mine 7');
  });
});
