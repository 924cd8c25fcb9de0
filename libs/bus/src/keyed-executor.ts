// Runs tasks strictly one at a time per key (one actor/mailbox per session), in submission order
// per key, different keys concurrently. How much is submitted is bounded by the caller (consume():
// the consumer's max_ack_pending on the server, since a message is acked only when done).
export interface KeyedExecutorStats {
  inFlight: number;
  keys: number;
}

export class KeyedExecutor {
  readonly #chains = new Map<string, Promise<void>>();
  #inFlight = 0;

  get stats(): KeyedExecutorStats {
    return { inFlight: this.#inFlight, keys: this.#chains.size };
  }

  /** Queue `task` behind earlier tasks of `key`. Errors are the task's own business. */
  submit(key: string, task: () => Promise<void>): Promise<void> {
    this.#inFlight++;
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const run = prev.then(task).catch(() => undefined);
    const done = run.finally(() => {
      this.#inFlight--;
      if (this.#chains.get(key) === done) this.#chains.delete(key);
    });
    this.#chains.set(key, done);
    return done;
  }

  /** Waits for everything submitted so far. */
  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }
}
