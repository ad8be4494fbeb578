import { BackupctlError, ErrorCodes } from '../errors/index.js';
import {
  assertValidKey,
  type ByteRange,
  type DeletableBackend,
  type ObjectInfo,
  type PutResult,
} from '../storage/backend.js';

/** A backend in memory: for tests of the engines, and the reference for the contract. */
export class MemoryBackend implements DeletableBackend {
  readonly location = 'memory:';
  readonly objects = new Map<string, Buffer>();

  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    assertValidKey(key);
    if (this.objects.has(key)) return 'exists';
    this.objects.set(key, Buffer.from(body));
    return 'created';
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    assertValidKey(key);
    const data = this.objects.get(key);
    if (!data)
      throw new BackupctlError(ErrorCodes.objectNotFound, `object not found: ${key}`, { source: 'toolkit' });
    return Buffer.from(range ? data.subarray(range.offset, range.offset + range.length) : data);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const key of [...this.objects.keys()].sort()) {
      if (key.startsWith(prefix)) yield { key, size: this.objects.get(key)!.length };
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    this.objects.delete(key);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    const data = this.objects.get(key);
    return data ? { key, size: data.length } : undefined;
  }
}
