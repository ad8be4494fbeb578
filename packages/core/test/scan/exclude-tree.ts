import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CACHEDIR_SIGNATURE } from '../../src/scan/walk-filter.js';

/**
 * Writes under `root` a tree that exercises every way a push leaves something out: a
 * pattern (`*.tmp`), a `.backupctlignore` with gitignore semantics (folders, globs, a `!`
 * re-include), a real and a fake CACHEDIR.TAG. `extra` files are added beside them.
 */
export async function writeExcludeTree(root: string, extra: string[] = []): Promise<string> {
  const put = async (rel: string, body = 'x') => {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), body);
  };
  await put('keep.txt');
  await put('a.tmp');
  await put('proj/.backupctlignore', 'build/\n*.log\n!important.log\n');
  await put('proj/build/out.o');
  await put('proj/src/build/nested.o');
  await put('proj/x.log');
  await put('proj/important.log');
  await put('proj/src/main.c');
  await put('other/build/kept.o');
  await put('.cache/CACHEDIR.TAG', `${CACHEDIR_SIGNATURE}\n# a cache\n`);
  await put('.cache/blob');
  await put('fake-cache/CACHEDIR.TAG', 'Signature: not the right one');
  await put('fake-cache/blob');
  for (const rel of extra) await put(rel);
  return root;
}
