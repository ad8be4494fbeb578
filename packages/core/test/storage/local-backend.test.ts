import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { backendSuite } from './backend-suite.js';

backendSuite('local', async () => new LocalBackend(await mkdtemp(path.join(tmpdir(), 'bk-local-'))));

it('leaves no temporary files behind after writes', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'bk-local-'));
  const backend = new LocalBackend(root);
  await backend.putIfAbsent('data/aa/x', Buffer.from('x'));
  await backend.putIfAbsent('data/aa/x', Buffer.from('y'));
  expect(await readdir(path.join(root, '.tmp'))).toEqual([]);
});
