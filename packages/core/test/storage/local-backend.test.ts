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

it('reads a range into memory shared with worker threads when asked, the same bytes', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'bk-local-'));
  const backend = new LocalBackend(root);
  const body = Buffer.from('0123456789abcdef');
  await backend.putIfAbsent('data/aa/x', body);
  const shared = await backend.get('data/aa/x', { offset: 3, length: 8, shared: true });
  expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
  expect(shared.equals(body.subarray(3, 11))).toBe(true);
  // Past the end: what is there, as without the hint.
  const tail = await backend.get('data/aa/x', { offset: 12, length: 10, shared: true });
  expect(tail.toString()).toBe('cdef');
  const plain = await backend.get('data/aa/x', { offset: 3, length: 8 });
  expect(plain.buffer).not.toBeInstanceOf(SharedArrayBuffer);
});
