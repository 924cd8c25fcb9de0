// With a real tracer provider (in-memory exporter): context crosses a header hop intact.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { activeTraceId, extractTraceContext, injectTraceHeaders, withSpan } from '@switchboard/telemetry';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
after(() => provider.shutdown());

void describe('trace propagation with a real tracer provider', () => {
  void it('inject → headers → extract makes the consumer span a child of the producer span', async () => {
    exporter.reset();
    const headers = new Map<string, string>();
    const producer = await withSpan(
      'publish turn.request',
      async (span) => {
        assert.equal(span.isRecording(), true);
        injectTraceHeaders((k, v) => headers.set(k, v));
        return span.spanContext();
      },
      { attributes: { 'session.id': 's-1', partition: 3 } },
    );
    assert.match(headers.get('traceparent') ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(headers.get('traceparent'), `00-${producer.traceId}-${producer.spanId}-01`);

    // The consumer runs in a fresh context, as in another service.
    const parent = extractTraceContext((k) => headers.get(k));
    const consumer = await withSpan('consume turn.request', async () => {
      assert.equal(activeTraceId(), producer.traceId);
      return trace.getActiveSpan()?.spanContext();
    }, { parent });
    assert.equal(consumer?.traceId, producer.traceId);

    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 2);
    const [p, c] = spans;
    assert.equal(p?.name, 'publish turn.request');
    assert.deepEqual(p?.attributes, { 'session.id': 's-1', partition: 3 });
    assert.equal(c?.name, 'consume turn.request');
    assert.equal(c?.parentSpanContext?.spanId, producer.spanId);
    assert.equal(c?.parentSpanContext?.isRemote, true);
  });

  void it('nests spans through awaits and records errors', async () => {
    exporter.reset();
    await assert.rejects(
      withSpan('outer', async () => {
        await new Promise((r) => setTimeout(r, 2));
        await withSpan('inner', async () => {
          throw new Error('tts failed');
        });
      }),
      /tts failed/,
    );
    const spans = exporter.getFinishedSpans();
    const inner = spans.find((s) => s.name === 'inner');
    const outer = spans.find((s) => s.name === 'outer');
    assert.ok(inner && outer);
    assert.equal(inner.parentSpanContext?.spanId, outer.spanContext().spanId);
    assert.equal(inner.status.code, SpanStatusCode.ERROR);
    assert.equal(inner.events[0]?.name, 'exception');
    assert.equal(outer.status.code, SpanStatusCode.ERROR);
  });
});
