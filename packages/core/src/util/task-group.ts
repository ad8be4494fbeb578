/**
 * A bounded group of tasks that owns every promise it starts (as restic's errgroup-based
 * uploader): at most `limit` run at once, the first error aborts `signal` so the others
 * can stop early, and `wait()` settles only when every task has settled, then throws that
 * first error. No task's rejection is ever left unhandled.
 */
export class TaskGroup {
  private readonly controller = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly queue: Array<() => void> = [];
  private active = 0;
  private firstError: { error: unknown } | undefined;

  constructor(private readonly limit = Number.POSITIVE_INFINITY) {
    if (!(limit >= 1)) throw new RangeError('a task group needs a limit of at least 1');
  }

  /** Aborted at the first failure: long tasks check it (or pass it on) to stop early. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get failed(): boolean {
    return this.firstError !== undefined;
  }

  /**
   * Starts `task` when a slot is free. The returned promise gives its result to a caller
   * that wants it; it is already owned by the group, so ignoring it leaks nothing.
   * Once the group failed, new tasks do not start (they reject with the first error).
   */
  spawn<T>(task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const result = new Promise<T>((resolve, reject) => {
      const start = () => {
        if (this.firstError) {
          this.release();
          reject(this.firstError.error);
          return;
        }
        let settled: Promise<T>;
        try {
          settled = task(this.signal);
        } catch (error) {
          settled = Promise.reject(error);
        }
        settled.then(resolve, (error: unknown) => {
          this.fail(error);
          reject(error);
        });
        settled.then(
          () => this.release(),
          () => this.release(),
        );
      };
      if (this.active < this.limit) {
        this.active++;
        start();
      } else {
        this.queue.push(start);
      }
    });
    const owned = result.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(owned);
    void owned.finally(() => this.running.delete(owned));
    // The caller may drop `result`: mark it handled; the group reports the error in wait().
    result.catch(() => undefined);
    return result;
  }

  /** Waits for every task (started or queued) to settle; throws the first error. */
  async wait(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.firstError) throw this.firstError.error;
  }

  private fail(error: unknown): void {
    if (this.firstError) return;
    this.firstError = { error };
    this.controller.abort(error);
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }
}
