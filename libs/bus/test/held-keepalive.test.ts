// A message held by a replica is its own until done — also while it waits behind an earlier
// message of its key. consume() used to start the "still working" keep-alive only when the handler
// began, so with a short ack_wait (rag, tts: 4 s) a queued message was redelivered while its
// replica was alive and busy with the previous one, and ran twice (two replicas streamed one speak).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StorageType } from '@nats-io/jetstream';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Bus, consume, type ConsumerHandle } from '@switchboard/bus';
import { captureLogger, eventually } from './helpers';

const STREAM = 'HELD_KEEPALIVE';
const ACK_WAIT_MS = 1_000;

let server: NatsServerHandle;
let bus: Bus;
let handle: ConsumerHandle | undefined;
const { log } = captureLogger();

before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'held', log, partitions: 1 });
  await bus.jsm.streams.add({ name: STREAM, subjects: ['held.>'], storage: StorageType.Memory });
});
after(async () => {
  await handle?.stop();
  await bus?.drain();
  await server?.stop();
});

test('a message waiting behind its key longer than ack_wait is not redelivered, and knows when it was taken', async () => {
  const runs: Array<{ id: string; delivery: number; heldForMs: number; ackWaitMs: number }> = [];
  handle = await consume<string>(bus, {
    stream: STREAM,
    consumer: 'held',
    config: { filter_subject: 'held.>', ack_wait: ACK_WAIT_MS * 1_000_000 },
    decode: (m) => new TextDecoder().decode(m.data),
    keyOf: () => 'one-session', // both run one at a time, in order
    handle: async (id, _m, ctx) => {
      runs.push({ id, delivery: ctx.deliveryCount, heldForMs: performance.now() - ctx.heldSince, ackWaitMs: ctx.ackWaitMs });
      if (id === 'first') await new Promise((r) => setTimeout(r, 3 * ACK_WAIT_MS)); // a long utterance
    },
  });
  await bus.js.publish('held.a', new TextEncoder().encode('first'));
  await bus.js.publish('held.a', new TextEncoder().encode('second'));
  await eventually(() => handle!.stats().handled === 2, 'both handled', 10_000);
  await new Promise((r) => setTimeout(r, 2 * ACK_WAIT_MS)); // a redelivery would have come by now
  assert.deepEqual(runs.map((r) => `${r.id}#${r.delivery}`), ['first#1', 'second#1'], 'each ran once, on its first delivery');
  const second = runs[1]!;
  assert.ok(second.heldForMs >= 2.5 * ACK_WAIT_MS, `heldSince is when it was taken (${second.heldForMs.toFixed(0)} ms before its handler), not when its handler began`);
  assert.equal(second.ackWaitMs, ACK_WAIT_MS);
});
