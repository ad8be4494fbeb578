import { TaskGroup } from '../util/task-group.js';

/**
 * A task group with backpressure: `start` returns once the task has *started*, and waits
 * while `limit` tasks run, so a producer (the tree walk) never gets ahead of the work by more
 * than `limit` tasks. Every task is owned by the group; the first error fails the group, and
 * the next `start` or `wait` throws it.
 */
export class BoundedTasks {
  private readonly group = new TaskGroup();
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError('a bounded task set needs a limit of at least 1');
  }

  get failed(): boolean {
    return this.group.failed;
  }

  async start(task: () => Promise<void>): Promise<void> {
    while (this.active >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.group.failed) await this.group.wait();
    this.active++;
    void this.group.spawn(async () => {
      try {
        await task();
      } finally {
        this.active--;
        this.waiters.shift()?.();
      }
    });
  }

  /** Waits for every task to settle; throws the first error. */
  wait(): Promise<void> {
    return this.group.wait();
  }
}

/** Awaits every promise (none is left unowned), then throws the first rejection if any. */
export async function settleAll(promises: Array<Promise<unknown>>): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
