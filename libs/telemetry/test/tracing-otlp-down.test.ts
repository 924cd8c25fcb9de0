// A collector that is down must cost nothing but a log line: spans are dropped, calls succeed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createLogger, initTracing, withSpan } from '@switchboard/telemetry';
import { capture } from './capture';

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

void describe('initTracing with an unreachable collector', () => {
  void it('never throws: spans run, shutdown resolves', async () => {
    const out = capture();
    const log = createLogger({ service: 's', destination: out.stream });
    const t = initTracing({ service: 's', endpoint: `http://127.0.0.1:${await closedPort()}`, log, shutdownBudgetMs: 1000 });
    assert.equal(t.enabled, true);
    for (let i = 0; i < 5; i++) assert.equal(await withSpan(`span-${i}`, async () => i), i);
    const started = Date.now();
    await t.shutdown();
    await t.shutdown();
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 3_000, `shutdown took ${tookMs} ms, budget 1000`);
    const warnings = out.records().filter((r) => r['level'] === 'warn');
    assert.ok(warnings.length <= 1, 'at most one warning');
  });
});
