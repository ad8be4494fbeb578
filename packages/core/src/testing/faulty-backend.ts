import type { Backend, ByteRange, ObjectInfo, PutResult, StagedObject } from '../storage/backend.js';

export interface FaultPlan {
  /** Fail every write whose key matches, after `afterWrites` successful writes in all. */
  failWrites?: { match: RegExp; afterWrites?: number; error?: () => Error };
  /** Fail reads whose key matches. */
  failReads?: { match: RegExp; error?: () => Error };
}

/**
 * Wraps a backend and injects failures (kopia's blobtesting/faulty.go is the model): how
 * tests show that a push dying at any write leaves a repository that `check` accepts and
 * the next push completes.
 */
export class FaultyBackend implements Backend {
  writes = 0;
  readonly location: string;

  constructor(
    private readonly inner: Backend,
    public plan: FaultPlan = {},
  ) {
    this.location = inner.location;
    const stage = inner.stage?.bind(inner);
    if (stage) this.stage = async (scratchDir) => this.faultyStaged(await stage(scratchDir));
  }

  /** Present when the inner backend stages: its publish is a write like putIfAbsent. */
  readonly stage?: (scratchDir: string) => Promise<StagedObject>;

  private faultyStaged(staged: StagedObject): StagedObject {
    return {
      write: (bytes, position) => staged.write(bytes, position),
      discard: () => staged.discard(),
      publish: async (key, size, sha256) => {
        const rule = this.plan.failWrites;
        if (rule?.match.test(key) && this.writes >= (rule.afterWrites ?? 0)) {
          await staged.discard();
          throw rule.error?.() ?? new Error(`injected write failure: ${key}`);
        }
        const result = await staged.publish(key, size, sha256);
        this.writes++;
        return result;
      },
    };
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    const rule = this.plan.failWrites;
    if (rule?.match.test(key) && this.writes >= (rule.afterWrites ?? 0)) {
      throw rule.error?.() ?? new Error(`injected write failure: ${key}`);
    }
    const result = await this.inner.putIfAbsent(key, body);
    this.writes++;
    return result;
  }

  get(key: string, range?: ByteRange): Promise<Buffer> {
    const rule = this.plan.failReads;
    if (rule?.match.test(key))
      return Promise.reject(rule.error?.() ?? new Error(`injected read failure: ${key}`));
    return this.inner.get(key, range);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(key);
  }
}
