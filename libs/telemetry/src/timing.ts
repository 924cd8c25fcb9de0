// Monotonic timing helpers: hrtime, never Date.now(), so wall-clock jumps don't skew latencies.
import type { Histogram } from 'prom-client';

export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Milliseconds (fractional) since `startNs` (from nowNs()). */
export function elapsedMs(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e6;
}

/** Observe the milliseconds since `startNs` into `histogram`; returns the value observed. */
export function observeMs<T extends string>(
  histogram: Histogram<T>,
  labels: Partial<Record<T, string | number>>,
  startNs: bigint,
): number {
  const ms = elapsedMs(startNs);
  histogram.observe(labels, ms);
  return ms;
}

export class Stopwatch {
  readonly startNs: bigint;
  private lastNs: bigint;

  constructor(startNs: bigint = process.hrtime.bigint()) {
    this.startNs = startNs;
    this.lastNs = startNs;
  }

  static start(): Stopwatch {
    return new Stopwatch();
  }

  /** Milliseconds since start. */
  elapsedMs(): number {
    return elapsedMs(this.startNs);
  }

  /** Milliseconds since the previous lap (or start). */
  lapMs(): number {
    const now = process.hrtime.bigint();
    const ms = Number(now - this.lastNs) / 1e6;
    this.lastNs = now;
    return ms;
  }
}
