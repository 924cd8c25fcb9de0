// A bound on decisions being worked on at once, shared by every partition of a replica.
// Events still arrive as fast as the server sends them (they wait here, decoded, in FIFO order),
// but only `limit` of them are between "reduce" and "commands published" at a time. Without it,
// a backlog (the bench's closed loop: ~1 000 events in flight) is worked on all at once: the
// replies of all those KV writes and publishes come back in the same socket reads, and one turn
// of the event loop ran for ~1.5 s (measured), so lease renewals (timers) came too late and the
// leases expired under load. With the bound, one turn does at most `limit` decisions' work.
import type { GaugeMetric } from '@switchboard/telemetry';

export class DecisionSlots {
  readonly #limit: number;
  readonly #waiting: Array<() => void> = [];
  readonly #depth: GaugeMetric | undefined;
  #busy = 0;

  constructor(limit: number, depth?: GaugeMetric) {
    if (!(limit >= 1)) throw new RangeError('limit must be >= 1');
    this.#limit = limit;
    this.#depth = depth;
  }

  get stats(): { busy: number; waiting: number } {
    return { busy: this.#busy, waiting: this.#waiting.length };
  }

  /** Runs `fn` once a slot is free (FIFO); the slot is held until it settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy < this.#limit) this.#busy++;
    else {
      // The releasing task hands its slot straight to us (busy stays counted), so a newcomer
      // cannot overtake the queue.
      const handedOver = new Promise<void>((resolve) => this.#waiting.push(resolve));
      this.#depth?.set(this.#waiting.length);
      await handedOver;
    }
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) {
        this.#depth?.set(this.#waiting.length);
        next();
      } else this.#busy--;
    }
  }
}
