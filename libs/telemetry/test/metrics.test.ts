import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sample } from './prom';
import { LATENCY_BUCKETS_MS, Stopwatch, createMetrics, elapsedMs, nowNs, observeMs } from '@switchboard/telemetry';

void describe('createMetrics', () => {
  void it('prefixes names, memoises by name and exposes Prometheus text with default labels', async () => {
    const m = createMetrics({ service: 'stt', defaultLabels: { replica: 'stt-1' } });
    const c1 = m.counter('turns_total', 'Turns started', ['outcome']);
    const c2 = m.counter('turns_total', 'Turns started', ['outcome']);
    assert.equal(c1, c2, 'same object for the same name');
    assert.equal(m.counter('switchboard_turns_total', 'x', ['outcome']), c1, 'prefix is not doubled');
    c1.inc({ outcome: 'answered' });
    c1.inc({ outcome: 'answered' }, 2);
    m.gauge('queue_depth', 'Items queued', ['queue']).set({ queue: 'audio' }, 7);

    const text = await m.text();
    assert.match(text, /# HELP switchboard_turns_total Turns started/);
    assert.match(text, /# TYPE switchboard_turns_total counter/);
    assert.equal(sample(text, 'switchboard_turns_total', { outcome: 'answered', service: 'stt', replica: 'stt-1' }), 3);
    assert.equal(sample(text, 'switchboard_queue_depth', { queue: 'audio', service: 'stt', replica: 'stt-1' }), 7);
    assert.equal(m.contentType, m.registry.contentType);
  });

  void it('histograms default to millisecond latency buckets from 0.1 ms to 10 s', async () => {
    const m = createMetrics({ service: 'bus' });
    const h = m.histogram('publish_latency_ms', 'Publish latency', ['subject']);
    assert.equal(m.histogram('publish_latency_ms', 'again'), h);
    assert.equal(LATENCY_BUCKETS_MS[0], 0.1);
    assert.equal(LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1], 10000);
    h.observe({ subject: 'a' }, 0.3);
    h.observe({ subject: 'a' }, 42);
    const text = await m.text();
    assert.equal(sample(text, 'switchboard_publish_latency_ms_bucket', { le: '0.1', subject: 'a', service: 'bus' }), 0);
    assert.equal(sample(text, 'switchboard_publish_latency_ms_bucket', { le: '0.5', subject: 'a', service: 'bus' }), 1);
    assert.equal(sample(text, 'switchboard_publish_latency_ms_bucket', { le: '50', subject: 'a', service: 'bus' }), 2);
    assert.equal(sample(text, 'switchboard_publish_latency_ms_bucket', { le: '10000', subject: 'a', service: 'bus' }), 2);
    assert.equal(sample(text, 'switchboard_publish_latency_ms_count', { subject: 'a', service: 'bus' }), 2);

    const custom = m.histogram('audio_frames', 'Frames', [], [1, 2]);
    custom.observe(1.5);
    assert.equal(sample(await m.text(), 'switchboard_audio_frames_bucket', { le: '2', service: 'bus' }), 1);
  });

  void it('refuses to reuse a name for another metric type', () => {
    const m = createMetrics({ service: 's' });
    m.counter('x_total', 'x');
    assert.throws(() => m.gauge('x_total', 'x'), (e: Error & { code?: string }) => e.code === 'METRIC_TYPE_CONFLICT');
  });

  void it('two registries do not collide (no global registry)', async () => {
    const a = createMetrics({ service: 'a' });
    const b = createMetrics({ service: 'b' });
    a.counter('same_total', 'x').inc();
    b.counter('same_total', 'x').inc(5);
    assert.equal(sample(await a.text(), 'switchboard_same_total', { service: 'a' }), 1);
    assert.equal(sample(await b.text(), 'switchboard_same_total', { service: 'b' }), 5);
  });

  void it('collectDefault adds process metrics and is idempotent', async () => {
    const m = createMetrics({ service: 's' });
    m.collectDefault();
    m.collectDefault();
    const text = await m.text();
    assert.match(text, /switchboard_process_cpu_user_seconds_total\{service="s"\}/);
    assert.match(text, /switchboard_nodejs_eventloop_lag_seconds/);
  });
});

void describe('timing helpers', () => {
  void it('elapsedMs, Stopwatch and observeMs measure monotonic milliseconds', async () => {
    const m = createMetrics({ service: 't' });
    const h = m.histogram('step_ms', 'Step', ['step']);
    const start = nowNs();
    const sw = Stopwatch.start();
    await sleep(20);
    const lap1 = sw.lapMs();
    const observed = observeMs(h, { step: 'sleep' }, start);
    assert.ok(observed >= 19 && observed < 1000, `observed ${observed}`);
    assert.ok(lap1 >= 19, `lap ${lap1}`);
    assert.ok(sw.lapMs() < lap1, 'second lap restarts from the first');
    assert.ok(sw.elapsedMs() >= lap1);
    assert.ok(elapsedMs(start) >= observed);
    const text = await m.text();
    assert.equal(sample(text, 'switchboard_step_ms_count', { step: 'sleep', service: 't' }), 1);
    assert.equal(sample(text, 'switchboard_step_ms_bucket', { le: '10', step: 'sleep', service: 't' }), 0);
  });
});
