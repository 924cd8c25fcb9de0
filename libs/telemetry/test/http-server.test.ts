import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, createMetrics, startHttpServer } from '@switchboard/telemetry';
import { capture } from './capture';
import { sample } from './prom';

async function get(url: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

void describe('startHttpServer', () => {
  void it('serves healthz, readiness with a reason, metrics, custom routes, 404 and 500 on port 0', async () => {
    const out = capture();
    const log = createLogger({ service: 'orch', destination: out.stream });
    const metrics = createMetrics({ service: 'orch' });
    metrics.counter('calls_total', 'Calls').inc(4);
    let ready: boolean | string = 'waiting for NATS';
    const srv = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      log,
      metrics,
      ready: () => ready,
      routes: async (req, res, url) => {
        if (url.pathname === '/sessions') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ count: 2, q: url.searchParams.get('q') }));
          return true;
        }
        if (url.pathname === '/boom') throw new Error('route exploded');
        if (url.pathname === '/boom-async') {
          await new Promise((r) => setTimeout(r, 5));
          return Promise.reject(new Error('async route exploded'));
        }
        return false;
      },
    });
    try {
      assert.ok(srv.port > 0);
      assert.equal(srv.url, `http://127.0.0.1:${srv.port}`);

      assert.equal((await get(`${srv.url}/healthz`)).status, 200);

      let r = await get(`${srv.url}/readyz`);
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).reason, 'waiting for NATS');
      ready = false;
      r = await get(`${srv.url}/readyz`);
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).reason, 'not ready');
      ready = true;
      assert.equal((await get(`${srv.url}/readyz`)).status, 200);

      r = await get(`${srv.url}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.type ?? '', /text\/plain/);
      assert.equal(sample(r.body, 'switchboard_calls_total', { service: 'orch' }), 4);

      r = await get(`${srv.url}/sessions?q=x`);
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), { count: 2, q: 'x' });

      r = await get(`${srv.url}/nope`);
      assert.equal(r.status, 404);
      assert.match(r.type ?? '', /application\/json/);
      assert.deepEqual(JSON.parse(r.body), { error: 'not_found', path: '/nope' });

      for (const path of ['/boom', '/boom-async']) {
        r = await get(`${srv.url}${path}`);
        assert.equal(r.status, 500, path);
        assert.equal(JSON.parse(r.body).error, 'internal');
      }
      // Still serving after the failures, and the failures were logged.
      assert.equal((await get(`${srv.url}/healthz`)).status, 200);
      const errors = out.records().filter((l) => l['msg'] === 'http route failed');
      assert.equal(errors.length, 2);
      assert.equal(errors[0]?.['level'], 'error');
      assert.equal(errors[0]?.['path'], '/boom');
    } finally {
      await srv.close();
    }
    await srv.close(); // idempotent
    await assert.rejects(fetch(`${srv.url}/healthz`));
  });

  void it('is always ready without a ready callback, and a throwing ready() means not ready', async () => {
    const log = createLogger({ service: 's', destination: capture().stream });
    const metrics = createMetrics({ service: 's' });
    const a = await startHttpServer({ port: 0, host: '127.0.0.1', log, metrics });
    const b = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      log,
      metrics,
      ready: () => {
        throw new Error('db gone');
      },
    });
    try {
      assert.notEqual(a.port, b.port);
      assert.equal((await get(`${a.url}/readyz`)).status, 200);
      const r = await get(`${b.url}/readyz`);
      assert.equal(r.status, 503);
      assert.match(JSON.parse(r.body).reason, /db gone/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  void it('rejects when the port is taken', async () => {
    const log = createLogger({ service: 's', destination: capture().stream });
    const metrics = createMetrics({ service: 's' });
    const a = await startHttpServer({ port: 0, host: '127.0.0.1', log, metrics });
    try {
      await assert.rejects(startHttpServer({ port: a.port, host: '127.0.0.1', log, metrics }), /EADDRINUSE/);
    } finally {
      await a.close();
    }
  });
});
