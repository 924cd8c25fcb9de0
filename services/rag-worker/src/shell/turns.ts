// Which turns this replica is answering right now, and which turns were cancelled recently.
// Cancels are fanned out to every replica, so each replica keeps this small memory: a cancel
// that overtakes its query (different consumers, different replicas) must still win.

export interface TurnRegistryOptions {
  /** How long a cancel is remembered (a later query for that turn publishes nothing). */
  ttlMs: number;
  /** Bound on remembered cancels; the oldest are forgotten first. */
  maxEntries: number;
  now?: () => number;
}

export interface LiveTurn {
  readonly key: string;
  /** Aborts when the turn is cancelled. */
  readonly signal: AbortSignal;
}

export type CancelOutcome = 'aborted_in_flight' | 'remembered';

const keyOf = (sessionId: string, turnId: string): string => `${sessionId}/${turnId}`;

export class TurnRegistry {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** key → expiry (ms); Map order = insertion order, so the first entry is the oldest. */
  readonly #cancelled = new Map<string, number>();
  /** key → controllers of the queries running for it here (normally one; a duplicate command may add a second). */
  readonly #live = new Map<string, Set<AbortController>>();
  readonly #controllers = new WeakMap<LiveTurn, AbortController>();

  constructor(opts: TurnRegistryOptions) {
    if (!(opts.ttlMs > 0) || !(opts.maxEntries >= 1)) throw new RangeError('ttlMs must be > 0 and maxEntries >= 1');
    this.#ttlMs = opts.ttlMs;
    this.#max = opts.maxEntries;
    this.#now = opts.now ?? Date.now;
  }

  /** Records the cancel and aborts the turn's query if it runs here. */
  cancel(sessionId: string, turnId: string, reason: string): CancelOutcome {
    const key = keyOf(sessionId, turnId);
    this.#prune();
    this.#cancelled.delete(key); // re-insert: refresh its place in the eviction order
    this.#cancelled.set(key, this.#now() + this.#ttlMs);
    while (this.#cancelled.size > this.#max) {
      const oldest = this.#cancelled.keys().next().value as string;
      this.#cancelled.delete(oldest);
    }
    const live = this.#live.get(key);
    if (!live) return 'remembered';
    for (const c of live) c.abort(new TurnCancelled(sessionId, turnId, reason));
    return 'aborted_in_flight';
  }

  isCancelled(sessionId: string, turnId: string): boolean {
    const key = keyOf(sessionId, turnId);
    const until = this.#cancelled.get(key);
    if (until === undefined) return false;
    if (until <= this.#now()) {
      this.#cancelled.delete(key);
      return false;
    }
    return true;
  }

  /** Registers a running query; undefined when the turn is already cancelled. Call `end` when done. */
  begin(sessionId: string, turnId: string): LiveTurn | undefined {
    if (this.isCancelled(sessionId, turnId)) return undefined;
    const key = keyOf(sessionId, turnId);
    const ctl = new AbortController();
    let set = this.#live.get(key);
    if (!set) this.#live.set(key, (set = new Set()));
    set.add(ctl);
    const turn = { key, signal: ctl.signal };
    this.#controllers.set(turn, ctl);
    return turn;
  }

  end(turn: LiveTurn): void {
    const ctl = this.#controllers.get(turn);
    if (!ctl) return;
    this.#controllers.delete(turn);
    const set = this.#live.get(turn.key);
    set?.delete(ctl);
    if (set && set.size === 0) this.#live.delete(turn.key);
  }

  get stats(): { live: number; remembered: number } {
    return { live: this.#live.size, remembered: this.#cancelled.size };
  }

  #prune(): void {
    const now = this.#now();
    // Entries expire in insertion order (same TTL for all), so stop at the first live one.
    for (const [key, until] of this.#cancelled) {
      if (until > now) break;
      this.#cancelled.delete(key);
    }
  }
}

/** The abort reason of a cancelled turn (not an error: the caller moved on). */
export class TurnCancelled extends Error {
  readonly code = 'turn_cancelled';
  readonly retryable = false;
  constructor(
    readonly sessionId: string,
    readonly turnId: string,
    readonly reason: string,
  ) {
    super(`turn ${turnId} cancelled${reason ? `: ${reason}` : ''}`);
    this.name = 'TurnCancelled';
  }
}
