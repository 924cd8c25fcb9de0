// initTracing with an endpoint really exports spans over OTLP/HTTP (to a local receiver), and a
// dead collector is logged, not thrown.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createLogger, initTracing, withSpan } from '@switchboard/telemetry';
import { capture } from './capture';

void describe('initTracing with an OTLP endpoint', () => {
  void it('exports spans to the collector and flushes on shutdown', async () => {
    const bodies: { path: string; body: string }[] = [];
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const { port } = collector.address() as AddressInfo;
    try {
      const t = initTracing({ service: 'orchestrator-test', endpoint: `http://127.0.0.1:${port}` });
      assert.equal(t.enabled, true);
      await withSpan('turn', async (span) => {
        assert.equal(span.isRecording(), true);
      });
      await t.shutdown();
      const traces = bodies.filter((b) => b.path === '/v1/traces');
      assert.ok(traces.length >= 1, `collector got ${JSON.stringify(bodies.map((b) => b.path))}`);
      const all = traces.map((b) => b.body).join('\n');
      assert.ok(all.includes('turn'), 'span name exported');
      assert.ok(all.includes('orchestrator-test'), 'service name exported');
    } finally {
      await new Promise<void>((r) => collector.close(() => r()));
    }
  });
});
