// provision() on a JetStream that does not answer yet: an R3 stream group still electing its leader
// on a cluster that has just formed lets a stream request time out (the 3-node cluster test failed
// in setUp with a bare TimeoutError this way). A proxy swallows the reply to one API request of a
// real nats-server, deterministically; provision must retry that step and finish, and a JetStream
// that never answers must give an error that names the step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Bus, isElecting, provision } from '@switchboard/bus';
import { captureLogger } from './helpers';
import { startFrameProxy, type FrameProxy } from './fixtures/frame-proxy';

let server: NatsServerHandle;
let proxy: FrameProxy;
let bus: Bus;
let dropReplies = 0; // API replies (to _INBOX subjects) still to swallow
const { log } = captureLogger();

before(async () => {
  server = await startNatsServer();
  proxy = await startFrameProxy({ host: '127.0.0.1', port: server.port }, (f) => {
    if (dropReplies <= 0 || !f.subject.startsWith('_INBOX.')) return false;
    dropReplies--;
    return true;
  });
  bus = await Bus.connect({ servers: proxy.url, service: 'provision-retry', log, partitions: 4 });
});
after(async () => {
  await bus?.drain();
  await proxy?.close();
  await server?.stop();
});

test('provision retries a JetStream API request that got no answer, and finishes', async () => {
  dropReplies = 1; // the first stream info of provision goes unanswered: a 5 s request timeout
  const retries: Array<{ step: string; err: string }> = [];
  const report = await provision(bus.nc, bus.jsm, { onRetry: (step, _a, err) => retries.push({ step, err: err.message }) });
  assert.equal(proxy.dropped.length, 1, 'one reply was swallowed');
  assert.equal(retries.length, 1, `retried once: ${JSON.stringify(retries)}`);
  assert.match(retries[0]!.step, /^stream /);
  assert.match(retries[0]!.err, /timeout/i);
  assert.ok(report.created.length > 0 && report.created.some((c) => c.startsWith('bucket ')), `every stream and bucket created: ${JSON.stringify(report)}`);
  const again = await provision(bus.nc, bus.jsm);
  assert.equal(again.created.length, 0, 'idempotent after the retry');
});

test('a JetStream that keeps not answering fails with the step named, after the budget', async () => {
  dropReplies = 1_000;
  await assert.rejects(provision(bus.nc, bus.jsm, { budgetMs: 1 }), /provisioning stream \S+ failed after 1 attempt\(s\): timeout/);
  dropReplies = 0;
});

test('only passing JetStream failures count as transient', () => {
  assert.ok(isElecting(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
  assert.ok(isElecting({ name: 'JetStreamApiError', message: 'JetStream system temporarily unavailable', api_error: { code: 503, err_code: 10008 } }));
  assert.ok(!isElecting({ name: 'JetStreamApiError', message: 'stream name already in use with a different configuration', api_error: { code: 400, err_code: 10058 } }));
  assert.ok(!isElecting(new Error('maximum consumers limit reached')));
});
