// Runs tasks with a bound on total work in flight, strictly one at a time per key (one
// actor/mailbox per session), in submission order per key.
export interface KeyedExecutorStats {
  inFlight: number;
  keys: number;
}

export class KeyedExecutor {
  readonly #maxInFlight: number;
  readonly #chains = new Map<string, Promise<void>>();
  #inFlight = 0;
  #waiters: Array<() => void> = [];

  constructor(maxInFlight: number) {
    if (!(maxInFlight >= 1)) throw new RangeError('maxInFlight must be >= 1');
    this.#maxInFlight = maxInFlight;
  }

  get stats(): KeyedExecutorStats {
    return { inFlight: this.#inFlight, keys: this.#chains.size };
  }

  /** Resolves when there is room for one more task (back-pressure for the pull loop). */
  async slot(): Promise<void> {
    while (this.#inFlight >= this.#maxInFlight) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Queue `task` behind earlier tasks of `key`. Errors are the task's own business. */
  submit(key: string, task: () => Promise<void>): Promise<void> {
    this.#inFlight++;
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const run = prev.then(task).catch(() => undefined);
    const done = run.finally(() => {
      this.#inFlight--;
      if (this.#chains.get(key) === done) this.#chains.delete(key);
      const w = this.#waiters.shift();
      if (w) w();
    });
    this.#chains.set(key, done);
    return done;
  }

  /** Waits for everything submitted so far. */
  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }
}
