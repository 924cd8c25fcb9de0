// Trace context crosses the bus: a handler runs in a child span of the publisher's span, and
// what it publishes carries the same trace on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { startNatsServer, captureLogs, eventually, type NatsServerHandle } from '@switchboard/testkit';
import { Bus, consume, provision, durableConsumer } from '@switchboard/bus';
import { STREAMS, decodeEvent, makeEvent, newSessionId, type Event } from '@switchboard/contracts';
import { createLogger, withSpan } from '@switchboard/telemetry';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

let server: NatsServerHandle;
let bus: Bus;
before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'trace-test', log: createLogger({ service: 'trace-test', destination: captureLogs().stream }), partitions: 8 });
  await provision(bus.nc, bus.jsm);
});
after(async () => {
  await bus?.drain();
  await server?.stop();
  await provider.shutdown();
});

test('a consumer handler is a child span of the publisher, and its own publishes carry the trace on', async () => {
  const sid = newSessionId();
  const seen: Array<{ type: string; traceparent: string | undefined }> = [];
  const h = await consume<Event>(bus, {
    stream: STREAMS.events,
    consumer: 'trace-hop',
    config: durableConsumer('trace-hop', `voice.evt.*.${sid}.>`),
    decode: (m) => decodeEvent(m.data),
    handle: async (e, msg) => {
      seen.push({ type: e.eventType, traceparent: msg.headers?.get('traceparent') || undefined });
      if (e.eventType === 'CALL_STARTED') {
        await bus.publishEvent(makeEvent('SPEECH_STARTED', { sessionId: sid, source: 'trace-test', eventId: `${sid}:hop2` }, { audioMs: 1 }));
      }
    },
  });
  let rootTrace = '';
  await withSpan('caller', async (span) => {
    rootTrace = span.spanContext().traceId;
    await bus.publishEvent(makeEvent('CALL_STARTED', { sessionId: sid, source: 'trace-test', eventId: `${sid}:hop1` }, {}));
  });
  await eventually(() => seen.length === 2, 'both hops handled');
  await h.stop();
  assert.ok(seen[0]!.traceparent?.includes(rootTrace), 'hop 1 carries the root trace');
  assert.ok(seen[1]!.traceparent?.includes(rootTrace), 'hop 2, published by the handler, carries the same trace');
  const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === rootTrace);
  const names = spans.map((s) => s.name).sort();
  assert.deepEqual(names, ['caller', 'trace-hop process', 'trace-hop process']);
  const caller = spans.find((s) => s.name === 'caller')!;
  const first = spans.filter((s) => s.name === 'trace-hop process').find((s) => s.parentSpanContext?.spanId === caller.spanContext().spanId);
  assert.ok(first, 'the first handler span is a child of the caller span');
});
