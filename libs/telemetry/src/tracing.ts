// OpenTelemetry tracing with a no-op fallback: without an OTLP endpoint nothing is started, and
// a broken exporter is logged, never thrown, so telemetry can't take a service down.
import { INVALID_SPAN_CONTEXT, ProxyTracerProvider, ROOT_CONTEXT, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Context, Span, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { Logger } from './logger';

export type { Context, Span };

export interface TracingOptions {
  service: string;
  /** OTLP/HTTP base endpoint (e.g. http://collector:4318); defaults to env OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint?: string;
  /** Where start/stop failures are reported; defaults to stderr. */
  log?: Logger;
  /** Longest shutdown() may wait to flush spans (default 3000 ms): SIGTERM must not hang on a dead collector. */
  shutdownBudgetMs?: number;
}

export interface TracingHandle {
  /** Whether an SDK was started (false = no-op). */
  readonly enabled: boolean;
  /** Flushes pending spans and stops the SDK; never throws. */
  shutdown(): Promise<void>;
}

const TRACER_NAME = '@switchboard/telemetry';

function report(log: Logger | undefined, err: unknown, msg: string): void {
  if (log) log.warn({ err }, msg);
  else process.stderr.write(`${msg}: ${(err as Error)?.message ?? String(err)}\n`);
}

function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

/**
 * Without an exporter, a context manager is still registered so that a remote parent extracted
 * from NATS headers stays active across awaits and is forwarded downstream: a service that
 * exports nothing must not break the trace of the services around it.
 */
function registerContextManagerOnly(): void {
  const cm = new AsyncLocalStorageContextManager().enable();
  // false when one is already registered (e.g. by an SDK): keep that one.
  if (!context.setGlobalContextManager(cm)) cm.disable();
}

export function initTracing(opts: TracingOptions): TracingHandle {
  const endpoint = opts.endpoint ?? process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (!endpoint) {
    registerContextManagerOnly();
    return { enabled: false, shutdown: async () => {} };
  }
  let sdk: NodeSDK | undefined;
  try {
    sdk = new NodeSDK({
      serviceName: opts.service,
      traceExporter: new OTLPTraceExporter({ url: tracesUrl(endpoint) }),
      instrumentations: [],
    });
    sdk.start();
  } catch (err) {
    report(opts.log, err, 'tracing disabled: OpenTelemetry SDK failed to start');
    registerContextManagerOnly();
    return { enabled: false, shutdown: async () => {} };
  }
  const started = sdk;
  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown() {
      stopping ??= (async () => {
        const budgetMs = opts.shutdownBudgetMs ?? 3000;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), budgetMs);
          timer.unref();
        });
        try {
          const r = await Promise.race([started.shutdown().then(() => 'done' as const), timeout]);
          if (r === 'timeout') report(opts.log, new Error(`no flush within ${budgetMs} ms`), 'tracing shutdown gave up');
        } catch (err) {
          report(opts.log, err, 'tracing shutdown failed');
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

// Propagation is always W3C trace context, independent of which SDK (if any) is registered,
// so traceparent flows through NATS headers even in services that don't export spans.
const w3c = new W3CTraceContextPropagator();

type SetFn = (key: string, value: string) => void;
type GetFn = (key: string) => string | undefined;

const setter: TextMapSetter<SetFn> = { set: (carrier, key, value) => carrier(key, value) };
const getter: TextMapGetter<GetFn> = {
  get: (carrier, key) => carrier(key),
  keys: () => ['traceparent', 'tracestate'],
};

/** Writes `traceparent` (and `tracestate`) for the active span, if any. */
export function injectTraceHeaders(set: SetFn, ctx: Context = context.active()): void {
  w3c.inject(ctx, set, setter);
}

/** Reads `traceparent`/`tracestate` into a Context usable as a span parent. */
export function extractTraceContext(get: GetFn, base: Context = ROOT_CONTEXT): Context {
  return w3c.extract(base, get, getter);
}

export interface WithSpanOptions {
  parent?: Context;
  attributes?: Record<string, string | number | boolean>;
}

const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Whether a tracer provider (an SDK) is registered; without one every span is a no-op. */
function sdkRegistered(): boolean {
  const p = trace.getTracerProvider();
  return !(p instanceof ProxyTracerProvider) || p.getDelegateTracer(TRACER_NAME) !== undefined;
}

/** Runs `fn` inside a new active span; records an exception and error status if it throws. */
export async function withSpan<T>(name: string, fn: (span: Span) => Promise<T>, opts?: WithSpanOptions): Promise<T> {
  const parent = opts?.parent ?? context.active();
  // No SDK and no trace to continue: the span would be an invalid no-op one. Entering its context
  // is still an AsyncLocalStorage run, which turns on async hooks for every promise of the
  // process (~5 % of the orchestrator's CPU, profiled): run `fn` where we are instead.
  if (!trace.isSpanContextValid(trace.getSpanContext(parent) ?? INVALID_SPAN_CONTEXT) && !sdkRegistered()) return fn(NO_SPAN);
  const tracer = trace.getTracer(TRACER_NAME);
  return tracer.startActiveSpan(name, { attributes: opts?.attributes ?? {} }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active span's trace id (for log correlation), or undefined when not tracing. */
export function activeTraceId(): string | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? sc.traceId : undefined;
}
