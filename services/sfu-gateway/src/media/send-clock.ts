// A self-correcting 20 ms clock. Each tick is scheduled against the absolute deadline
// start + n × period (not "20 ms after the last tick"), so timer lateness does not accumulate;
// a late wake-up sends at most the `maxBurst` most recent due slots and skips the older ones (the
// RTP timestamp still advances, the receiver sees a gap + marker).
// A plain setInterval drifts under load (TOOLCHAIN.md: p95 late 5–38 ms on 2 busy cores).
import { performance } from 'node:perf_hooks';

export interface SendClockOptions {
  periodMs?: number;
  /** At most this many frames are sent in one wake-up to catch up. Default 5 (100 ms). */
  maxBurst?: number;
  /** One frame slot is due: produce and send it. */
  onFrame: (slot: number) => void;
  /** `count` slots were skipped (too late to send). */
  onSkip?: (count: number) => void;
  /** Called once per wake-up before frames (e.g. to run watchdogs). */
  onWake?: (nowMs: number) => void;
  now?: () => number;
}

export interface SendClockStats {
  ticks: number;
  slots: number;
  skipped: number;
  /** Wake-up lateness vs. the deadline, ms. */
  lateMaxMs: number;
  lateP95Ms: number;
}

export interface SendClock {
  start(): void;
  stop(): void;
  readonly running: boolean;
  stats(): SendClockStats;
}

export function createSendClock(opts: SendClockOptions): SendClock {
  const period = opts.periodMs ?? 20;
  const maxBurst = opts.maxBurst ?? 5;
  const now = opts.now ?? (() => performance.now());
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let t0 = 0;
  let slot = 0; // next slot to produce; slot k is due at t0 + k × period
  let ticks = 0;
  let skipped = 0;
  let lateMax = 0;
  const lateRing = new Float64Array(512);
  let lateN = 0;

  function schedule(): void {
    if (!running) return;
    const delay = Math.max(0, t0 + slot * period - now());
    timer = setTimeout(wake, delay);
  }

  function wake(): void {
    timer = undefined;
    if (!running) return;
    const t = now();
    const late = t - (t0 + slot * period);
    lateRing[lateN++ % lateRing.length] = late;
    if (late > lateMax) lateMax = late;
    ticks++;
    opts.onWake?.(t);
    let due = Math.floor((t - t0) / period) + 1 - slot;
    if (due > maxBurst) {
      const skip = due - maxBurst;
      slot += skip;
      skipped += skip;
      due = maxBurst;
      opts.onSkip?.(skip);
    }
    for (let i = 0; i < due && running; i++) opts.onFrame(slot++);
    schedule();
  }

  return {
    get running() {
      return running;
    },
    start() {
      if (running) return;
      running = true;
      t0 = now();
      slot = 0;
      schedule();
    },
    stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
    stats() {
      const n = Math.min(lateN, lateRing.length);
      const sorted = Array.from(lateRing.subarray(0, n)).sort((a, b) => a - b);
      return {
        ticks,
        slots: slot,
        skipped,
        lateMaxMs: lateMax,
        lateP95Ms: n ? sorted[Math.min(n - 1, Math.floor(n * 0.95))]! : 0,
      };
    },
  };
}
