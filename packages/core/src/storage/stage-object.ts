import type { Backend, PutResult, StagedObject } from './backend.js';

/**
 * A staged object on `backend`: its own (a temporary file) where it has `stage`, else one
 * gathered in memory and stored with `putIfAbsent` on publish (the memory backend of the
 * tests, a backend of a library user).
 */
export function stageObject(backend: Backend, scratchDir: string): Promise<StagedObject> {
  return backend.stage?.(scratchDir) ?? Promise.resolve(new StagedInMemory(backend));
}

class StagedInMemory implements StagedObject {
  private parts: Array<{ position: number; bytes: Buffer }> = [];

  constructor(private readonly backend: Backend) {}

  async write(bytes: Uint8Array, position: number): Promise<void> {
    // Copied: the caller reuses its buffer once this settles.
    this.parts.push({ position, bytes: Buffer.from(bytes) });
  }

  async publish(key: string, size: number): Promise<PutResult> {
    const body = Buffer.alloc(size);
    for (const { position, bytes } of this.parts) bytes.copy(body, position);
    this.parts = [];
    return this.backend.putIfAbsent(key, body);
  }

  async discard(): Promise<void> {
    this.parts = [];
  }
}
