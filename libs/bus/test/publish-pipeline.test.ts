// PublishPipeline: a producer's messages go out back to back (no ack round trip between them) and
// are stored in the order they were sent; after a failed ack nothing more is sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StorageType } from '@nats-io/jetstream';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Bus, PublishPipeline } from '@switchboard/bus';
import { captureLogger } from './helpers';

const STREAM = 'PIPELINE';
let server: NatsServerHandle;
let bus: Bus;
const { log } = captureLogger();

before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'pipeline', log, partitions: 1 });
  await bus.jsm.streams.add({ name: STREAM, subjects: ['pipe.>'], storage: StorageType.Memory });
});
after(async () => {
  await bus?.drain();
  await server?.stop();
});

test('messages are sent without waiting for each ack and stored in the order sent', async () => {
  const out = new PublishPipeline();
  const n = 200;
  let acked = 0;
  for (let i = 0; i < n; i++) {
    await out.send(() =>
      bus.publish(`pipe.s.${i % 7}`, new TextEncoder().encode(String(i)), { msgId: `m-${i}` }).then((a) => {
        acked++;
        return a;
      }),
    );
  }
  assert.equal(out.sent, n);
  assert.ok(acked < n, `all ${n} were sent before their acks came back (acked so far: ${acked})`);
  await out.drain();
  assert.equal(acked, n);
  const got: number[] = [];
  for (let seq = 1; seq <= n; seq++) got.push(Number(new TextDecoder().decode((await bus.jsm.streams.getMessage(STREAM, { seq }))!.data)));
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
});

test('a bounded number of acks is outstanding', async () => {
  const out = new PublishPipeline(4);
  let outstanding = 0;
  let most = 0;
  for (let i = 0; i < 40; i++) {
    await out.send(() => {
      outstanding++;
      most = Math.max(most, outstanding);
      return bus.publish('pipe.bounded', new Uint8Array([i])).finally(() => outstanding--);
    });
  }
  await out.drain();
  assert.ok(most <= 4, `at most 4 outstanding (saw ${most})`);
});

test('after a failed ack, drain() throws it and nothing more is sent', async () => {
  const out = new PublishPipeline();
  await out.send(() => bus.publish('pipe.ok', new Uint8Array([1])));
  await out.send(() => bus.publish('nostream.here', new Uint8Array([2]))); // no stream: nobody acks it
  await assert.rejects(out.drain());
  let called = false;
  await assert.rejects(
    out.send(() => {
      called = true;
      return bus.publish('pipe.ok', new Uint8Array([3]));
    }),
  );
  assert.equal(called, false, 'the publish after the failure was never started');
});
