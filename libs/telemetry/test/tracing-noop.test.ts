// Without an endpoint nothing is registered: spans are non-recording, yet a remote parent's
// trace id still passes through so downstream services keep the trace.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, context } from '@opentelemetry/api';
import { extractTraceContext, initTracing, injectTraceHeaders, withSpan } from '@switchboard/telemetry';

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

void describe('tracing without an endpoint', () => {
  void it('is a no-op that never throws', async () => {
    delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    const t = initTracing({ service: 'x' });
    assert.equal(t.enabled, false);
    const v = await withSpan('work', async (span) => {
      assert.equal(span.isRecording(), false);
      const h = new Map<string, string>();
      injectTraceHeaders((k, val) => h.set(k, val));
      assert.equal(h.size, 0, 'no active trace, nothing injected');
      return 42;
    });
    assert.equal(v, 42);
    await assert.rejects(
      withSpan('fails', async () => {
        throw new Error('inner');
      }),
      /inner/,
    );
    await t.shutdown();
  });

  void it('passes an extracted remote parent through to downstream headers', async () => {
    initTracing({ service: 'x' });
    const parent = extractTraceContext((k) => (k === 'traceparent' ? PARENT : undefined));
    const h = new Map<string, string>();
    await withSpan(
      'downstream',
      async () => {
        injectTraceHeaders((k, v) => h.set(k, v));
      },
      { parent },
    );
    assert.equal(h.get('traceparent'), PARENT);
  });

  void it('enters no context when there is neither an SDK nor a parent to continue', async () => {
    initTracing({ service: 'x' });
    // The no-op span's context would be a new Context object; entering it costs async hooks on every promise.
    const seen = await withSpan('untraced', async () => context.active(), { parent: extractTraceContext(() => undefined) });
    assert.equal(seen, ROOT_CONTEXT);
  });

  void it('ignores a malformed traceparent', async () => {
    const parent = extractTraceContext(() => 'garbage');
    const h = new Map<string, string>();
    await withSpan('x', async () => injectTraceHeaders((k, v) => h.set(k, v)), { parent });
    assert.equal(h.size, 0);
  });
});
