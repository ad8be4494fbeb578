import { describe, expect, it } from 'vitest';
import { BackupctlError, ErrorCodes } from '../../src/errors/index.js';
import type { Tree, TreeNode } from '../../src/repository/format.js';
import { countFiles, IncludeRules } from '../../src/restore/plan.js';
import type { TreeReader } from '../../src/restore/tree-reader.js';

const file = (name: string, size: number): TreeNode => ({
  name,
  type: 'file',
  mode: 0o644,
  mtimeNs: '1600000000000000000',
  size,
  chunks: [],
});
const dir = (name: string, subtree: string): TreeNode => ({
  name,
  type: 'dir',
  mode: 0o755,
  mtimeNs: '1600000000000000000',
  subtree,
});

/** A reader of made-up trees; `broken` ids fail as `broken` says, after the others. */
function reader(trees: Record<string, Tree>, broken: Record<string, Error> = {}): TreeReader {
  return {
    read: async (id: string) => {
      await new Promise((resolve) => setTimeout(resolve, id.length % 3));
      if (broken[id]) throw broken[id];
      const tree = trees[id];
      if (!tree) throw new Error(`no tree ${id}`);
      return tree;
    },
  } as unknown as TreeReader;
}

describe('countFiles: the totals of a restore, its subfolders read ahead', () => {
  // root: 12 subfolders (more than are read ahead), each with files of their own and one level more.
  const trees: Record<string, Tree> = {};
  const rootNodes: TreeNode[] = [file('top', 1)];
  let files = 1;
  let bytes = 1;
  for (let d = 0; d < 12; d++) {
    const inner: TreeNode[] = [];
    for (let f = 0; f <= d; f++) {
      inner.push(file(`f${f}`, 10 * d + f));
      files++;
      bytes += 10 * d + f;
    }
    trees[`leaf${d}`] = { nodes: [file('deep', 1000)] };
    files++;
    bytes += 1000;
    inner.push(dir('leaf', `leaf${d}`));
    trees[`d${d}`] = { nodes: inner };
    rootNodes.push(dir(`d${String(d).padStart(2, '0')}`, `d${d}`));
  }
  trees.root = { nodes: rootNodes };

  it('counts every file of every folder, once', async () => {
    const totals = await countFiles(reader(trees), 'root', '/', new IncludeRules(), false);
    expect(totals).toEqual({ files, bytes });
  });

  it('a damaged subfolder counts for nothing, the others still count', async () => {
    const damage = new BackupctlError(ErrorCodes.integrity, 'damaged');
    const totals = await countFiles(reader(trees, { d3: damage }), 'root', '/', new IncludeRules(), false);
    // d3: 4 files (0+30, 1+30, …) and its leaf.
    expect(totals).toEqual({ files: files - 5, bytes: bytes - (30 + 31 + 32 + 33) - 1000 });
  });

  it('any other failure stops the count with that error (and no read left unowned)', async () => {
    const failure = new Error('disk gone');
    await expect(
      countFiles(
        reader(trees, { d1: failure, d2: failure, d5: failure }),
        'root',
        '/',
        new IncludeRules(),
        false,
      ),
    ).rejects.toBe(failure);
  });
});
