// Which utterances this replica is streaming right now, and which were cancelled recently.
// Cancels are fanned out to every replica and speaks go to whichever replica pulls them, so a
// cancel can overtake its speak (different consumers): each replica remembers recent cancels,
// bounded in count and time, and a speak that arrives after its cancel stays silent.

/** A set of keys that expire; the oldest are forgotten first when it is full. */
export class ExpiringSet {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** key → expiry; Map order = insertion order, so the first entry is the oldest. */
  readonly #items = new Map<string, number>();

  constructor(opts: { ttlMs: number; maxEntries: number; now?: () => number }) {
    if (!(opts.ttlMs > 0) || !(opts.maxEntries >= 1)) throw new RangeError('ttlMs must be > 0 and maxEntries >= 1');
    this.#ttlMs = opts.ttlMs;
    this.#max = opts.maxEntries;
    this.#now = opts.now ?? Date.now;
  }

  add(key: string): void {
    this.#prune();
    this.#items.delete(key); // re-insert: refresh its place in the eviction order
    this.#items.set(key, this.#now() + this.#ttlMs);
    while (this.#items.size > this.#max) this.#items.delete(this.#items.keys().next().value as string);
  }

  has(key: string): boolean {
    const until = this.#items.get(key);
    if (until === undefined) return false;
    if (until <= this.#now()) {
      this.#items.delete(key);
      return false;
    }
    return true;
  }

  get size(): number {
    return this.#items.size;
  }

  #prune(): void {
    const now = this.#now();
    for (const [k, until] of this.#items) {
      if (until > now) break; // insertion order ≈ expiry order (same TTL)
      this.#items.delete(k);
    }
  }
}

export interface UtteranceRef {
  readonly sessionId: string;
  readonly turnId: string;
  readonly speakId: string;
}

export interface CancelRequest {
  readonly sessionId: string;
  /** Empty with a speakId: only that utterance. */
  readonly turnId: string;
  /** Empty: every utterance of the turn. */
  readonly speakId: string;
  readonly reason: string;
}

export class UtteranceCancelled extends Error {
  readonly code = 'cancelled';
  readonly retryable = false;
  constructor(readonly reason: string) {
    super(`utterance cancelled: ${reason}`);
  }
}

export interface LiveUtterance extends UtteranceRef {
  /** Aborts when the utterance is cancelled (reason: UtteranceCancelled). */
  readonly signal: AbortSignal;
  /** Cut it from inside the service (shutdown). */
  abort(reason: string): void;
}

export type CancelOutcome = 'aborted_in_flight' | 'remembered';

const turnKey = (sessionId: string, turnId: string): string => `t/${sessionId}/${turnId}`;
const speakKey = (sessionId: string, speakId: string): string => `s/${sessionId}/${speakId}`;

export class CancelRegistry {
  readonly #cancelled: ExpiringSet;
  /** Bounded by the consumer's max in flight, so a linear scan on cancel is cheap. */
  readonly #live = new Set<LiveUtterance & { ctl: AbortController }>();

  constructor(opts: { ttlMs: number; maxEntries: number; now?: () => number }) {
    this.#cancelled = new ExpiringSet(opts);
  }

  /** Records the cancel and aborts matching utterances streaming here. Returns how many it aborted. */
  cancel(req: CancelRequest): { outcome: CancelOutcome; aborted: number } {
    if (req.speakId) this.#cancelled.add(speakKey(req.sessionId, req.speakId));
    else if (req.turnId) this.#cancelled.add(turnKey(req.sessionId, req.turnId));
    let aborted = 0;
    for (const u of this.#live) {
      if (!u.signal.aborted && matches(u, req)) {
        u.ctl.abort(new UtteranceCancelled(req.reason || 'cancel'));
        aborted++;
      }
    }
    return { outcome: aborted > 0 ? 'aborted_in_flight' : 'remembered', aborted };
  }

  isCancelled(u: UtteranceRef): boolean {
    return (u.turnId !== '' && this.#cancelled.has(turnKey(u.sessionId, u.turnId))) || this.#cancelled.has(speakKey(u.sessionId, u.speakId));
  }

  /** Registers an utterance about to stream; undefined when it was already cancelled. Call `end` when done. */
  begin(u: UtteranceRef): LiveUtterance | undefined {
    if (this.isCancelled(u)) return undefined;
    const ctl = new AbortController();
    const live = {
      sessionId: u.sessionId,
      turnId: u.turnId,
      speakId: u.speakId,
      signal: ctl.signal,
      ctl,
      abort: (reason: string) => ctl.abort(new UtteranceCancelled(reason)),
    };
    this.#live.add(live);
    return live;
  }

  end(u: LiveUtterance): void {
    for (const l of this.#live) if (l === u) this.#live.delete(l);
  }

  /** Every utterance streaming here (shutdown cuts them after the drain budget). */
  live(): readonly LiveUtterance[] {
    return [...this.#live];
  }

  get remembered(): number {
    return this.#cancelled.size;
  }
}

function matches(u: UtteranceRef, req: CancelRequest): boolean {
  if (u.sessionId !== req.sessionId) return false;
  if (req.speakId) return u.speakId === req.speakId && (req.turnId === '' || req.turnId === u.turnId);
  return req.turnId !== '' && u.turnId === req.turnId;
}
