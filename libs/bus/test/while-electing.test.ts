// whileElecting: what a partition takeover does while a cluster that lost a node elects leaders
// (nats-server 2.9 drops requests to a leaderless group: the client sees a timeout, and only a new
// request is answered once a leader is elected).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Bus, isElecting, whileElecting } from '@switchboard/bus';
import { captureLogger } from './helpers';

let server: NatsServerHandle;
let bus: Bus;
before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'electing-test', log: captureLogger().log, partitions: 1 });
});
after(async () => {
  await bus?.drain();
  await server?.stop();
});

test('a request nobody answers is "electing"; a not-found is not', async () => {
  // nobody serves this subject: with no responders the client reports it at once
  const noResponders = await bus.nc.request('sb.nobody.home', undefined, { timeout: 200 }).catch((e: unknown) => e);
  assert.ok(isElecting(noResponders), String(noResponders));
  // a subject with an (unanswering) subscriber: the client times out, as with a dropped request
  const sub = bus.nc.subscribe('sb.silent');
  const timedOut = await bus.nc.request('sb.silent', undefined, { timeout: 200 }).catch((e: unknown) => e);
  sub.unsubscribe();
  assert.ok(isElecting(timedOut), String(timedOut));
  const notFound = await bus.jsm.consumers.info('NO_SUCH_STREAM', 'x').catch((e: unknown) => e);
  assert.equal(isElecting(notFound), false, String(notFound));
});

test('whileElecting retries timeouts within its budget and rethrows anything else at once', async () => {
  let calls = 0;
  const sub = bus.nc.subscribe('sb.late');
  // the first two requests are dropped (never answered), the third is answered
  void (async () => {
    for await (const m of sub) if (++calls >= 3) m.respond(new TextEncoder().encode('ok'));
  })();
  const r = await whileElecting(() => bus.nc.request('sb.late', undefined, { timeout: 200 }), 5_000);
  assert.equal(new TextDecoder().decode(r.data), 'ok');
  assert.equal(calls, 3);
  sub.unsubscribe();

  let other = 0;
  await assert.rejects(
    whileElecting(async () => {
      other++;
      throw new Error('consumer not found');
    }, 5_000),
    /not found/,
  );
  assert.equal(other, 1, 'not retried');
  await assert.rejects(whileElecting(() => bus.nc.request('sb.nobody.home', undefined, { timeout: 100 }), 0), (e: unknown) => isElecting(e));
});
