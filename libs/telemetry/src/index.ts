// @switchboard/telemetry: logs, metrics, traces and the ops HTTP endpoint for every service.
export { createLogger, sessionLogger, redactPaths, REDACTED, SENSITIVE_KEYS } from './logger';
export type { Logger, CreateLoggerOptions } from './logger';
export { createMetrics, prefixed, LATENCY_BUCKETS_MS, METRIC_PREFIX } from './metrics';
export type { Metrics, CreateMetricsOptions, CounterMetric, GaugeMetric, HistogramMetric } from './metrics';
export { startHttpServer } from './http-server';
export type { HttpServerOptions, HttpServerHandle, RouteHandler } from './http-server';
export { initTracing, injectTraceHeaders, extractTraceContext, withSpan, activeTraceId } from './tracing';
export type { TracingOptions, TracingHandle, WithSpanOptions, Context, Span } from './tracing';
export { Stopwatch, elapsedMs, nowNs, observeMs } from './timing';
