// Notices when this process's event loop did not run for a while (SIGSTOP, a stalled VM, a long
// GC). Such a stall matters to a consumer twice: work it held may have been handed to another
// replica meanwhile (ack_wait passed without a keep-alive), and messages the server sent during
// the stall sat unread in the socket while their ack_wait was already running.
import { performance } from 'node:perf_hooks';

interface Gap {
  /** the last tick before the stall: the loop was seen running then */
  startedAt: number;
  endedAt: number;
  ms: number;
}

/**
 * A timer ticks every `tickMs`; a tick that comes much later than due records a gap.
 * Times are performance.now() (it keeps counting while the process is stopped).
 */
export class LoopGapWatch {
  readonly #gaps: Gap[] = [];
  readonly #timer: NodeJS.Timeout;
  #last: number;

  constructor(
    private readonly tickMs = 100,
    private readonly keepMs = 120_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#last = now();
    this.#timer = setInterval(() => this.#tick(), tickMs);
    this.#timer.unref();
  }

  #tick(): void {
    const t = this.now();
    const gap = t - this.#last - this.tickMs;
    if (gap > this.tickMs) this.#gaps.push({ startedAt: this.#last, endedAt: t, ms: gap });
    this.#last = t;
    while (this.#gaps.length > 0 && t - this.#gaps[0]!.endedAt > this.keepMs) this.#gaps.shift();
    if (this.#gaps.length > 256) this.#gaps.shift();
  }

  /** The longest gap that ended at or after `t` (a gap still open right now counts too). */
  maxGapSince(t: number): number {
    this.#tick();
    let max = 0;
    for (const g of this.#gaps) if (g.endedAt >= t && g.ms > max) max = g.ms;
    return max;
  }

  /**
   * Since when a message read now may have been waiting unread: the start of the earliest stall
   * that ended within `windowMs` before now (or is still open); now when there was none. After a
   * stall the loop reads what the socket holds within a turn or two, so older stalls do not count.
   */
  unreadSince(windowMs: number): number {
    this.#tick();
    const t = this.now();
    let since = t;
    for (const g of this.#gaps) if (g.endedAt >= t - windowMs && g.startedAt < since) since = g.startedAt;
    return since;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
