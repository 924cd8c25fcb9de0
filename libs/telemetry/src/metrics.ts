// Prometheus metrics in a registry owned by the caller (no global registry), so two services
// or two tests in one process never collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'switchboard_';

/** Latency buckets in milliseconds, 0.1 ms (a loopback NATS hop) .. 10 s (a stuck turn). */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
];

export type CounterMetric = Counter<string>;
export type GaugeMetric = Gauge<string>;
export type HistogramMetric = Histogram<string>;

export interface Metrics {
  readonly registry: Registry;
  readonly service: string;
  /** Get or create a counter; the name gets the `switchboard_` prefix if it lacks it. */
  counter(name: string, help: string, labelNames?: readonly string[]): CounterMetric;
  gauge(name: string, help: string, labelNames?: readonly string[]): GaugeMetric;
  /** Buckets default to LATENCY_BUCKETS_MS. */
  histogram(name: string, help: string, labelNames?: readonly string[], buckets?: readonly number[]): HistogramMetric;
  /** Node process metrics (CPU, memory, event loop lag, GC); idempotent. */
  collectDefault(): void;
  /** Prometheus text exposition. */
  text(): Promise<string>;
  readonly contentType: string;
}

export interface CreateMetricsOptions {
  service: string;
  defaultLabels?: Record<string, string>;
}

export function prefixed(name: string): string {
  return name.startsWith(METRIC_PREFIX) ? name : METRIC_PREFIX + name;
}

export function createMetrics(opts: CreateMetricsOptions): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service, ...opts.defaultLabels });
  const made = new Map<string, CounterMetric | GaugeMetric | HistogramMetric>();
  let defaultsOn = false;

  // Memoised by name: modules can declare the metric they use where they use it.
  function memo<M extends CounterMetric | GaugeMetric | HistogramMetric>(
    name: string,
    kind: new (...a: never[]) => M,
    make: (fullName: string) => M,
  ): M {
    const full = prefixed(name);
    const existing = made.get(full);
    if (existing) {
      if (!(existing instanceof kind)) {
        throw Object.assign(new Error(`metric ${full} already registered with another type`), {
          code: 'METRIC_TYPE_CONFLICT',
          retryable: false,
        });
      }
      return existing;
    }
    const m = make(full);
    made.set(full, m);
    return m;
  }

  return {
    registry,
    service: opts.service,
    contentType: registry.contentType,
    counter: (name, help, labelNames = []) =>
      memo(name, Counter, (n) => new Counter({ name: n, help, labelNames: [...labelNames], registers: [registry] })),
    gauge: (name, help, labelNames = []) =>
      memo(name, Gauge, (n) => new Gauge({ name: n, help, labelNames: [...labelNames], registers: [registry] })),
    histogram: (name, help, labelNames = [], buckets = LATENCY_BUCKETS_MS) =>
      memo(
        name,
        Histogram,
        (n) => new Histogram({ name: n, help, labelNames: [...labelNames], buckets: [...buckets], registers: [registry] }),
      ),
    collectDefault() {
      if (defaultsOn) return;
      defaultsOn = true;
      collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
    },
    text: () => registry.metrics(),
  };
}
