import { promises as fs, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import {
  dirNodeJson,
  entryMetadata,
  entryName,
  fileNodeJson,
  nodeJsonHead,
} from '../../src/archive/entry-metadata.js';

const ID = 'ab'.repeat(32);
const XATTRS = [
  { name: 'user.a', value: 'QQ==' },
  { name: 'user.quote"d', value: '' },
];

it('tree nodes written as text are the bytes JSON.stringify gives the node objects (so the same tree ids)', async () => {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'bk-nodejson-'));
  const names: Array<string | Buffer> = [
    'plain.txt',
    'quote " back \\ slash',
    'tab\tnew\nline\u0001',
    'été 日本 😀',
    'lone \ud800 surrogate',
  ];
  const linkedPath = path.join(dir, 'linked');
  await fs.writeFile(linkedPath, 'x');
  await fs.link(linkedPath, path.join(dir, 'linked-too'));
  const old = path.join(dir, 'old');
  await fs.writeFile(old, 'before 1970');
  await fs.utimes(old, new Date(-86_400_500), new Date(-86_400_500));
  const cases: Array<{ name: string | Buffer; file: string }> = [
    ...names.map((name) => ({ name, file: linkedPath })),
    { name: 'linked', file: linkedPath },
    { name: 'old', file: old },
    { name: 'dir', file: dir },
    // A name that is not UTF-8: kept as bytes (nameBytes).
    { name: entryName(Buffer.from([0x66, 0xff, 0xfe])), file: old },
  ];
  expect(Buffer.isBuffer(cases.at(-1)!.name)).toBe(true);
  for (const { name, file } of cases) {
    const stat = lstatSync(file, { bigint: true });
    for (const xattrs of [undefined, XATTRS]) {
      const extra = xattrs ? { xattrs } : {};
      for (const chunks of [[], [ID], [ID, ID.replace(/a/g, 'c')]]) {
        expect(fileNodeJson(name, stat, xattrs, 1234, chunks)).toBe(
          JSON.stringify({ ...entryMetadata(name, 'file', stat), ...extra, size: 1234, chunks }),
        );
      }
      expect(dirNodeJson(nodeJsonHead(name, 'dir', stat, xattrs), ID)).toBe(
        JSON.stringify({ ...entryMetadata(name, 'dir', stat), ...extra, subtree: ID }),
      );
    }
  }
  // The cases above reach the optional fields.
  const linked = JSON.parse(
    fileNodeJson('linked', lstatSync(linkedPath, { bigint: true }), undefined, 1, []),
  );
  expect(linked.hardlink).toMatch(/^\d+:\d+$/);
  expect(JSON.parse(fileNodeJson('old', lstatSync(old, { bigint: true }), undefined, 1, [])).mtimeNs).toMatch(
    /^-/,
  );
});
