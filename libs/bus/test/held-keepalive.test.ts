// A message held by a replica is its own until done — also while it waits behind an earlier
// message of its key. consume() used to start the "still working" keep-alive only when the handler
// began, so with a short ack_wait (rag, tts: 4 s) a queued message was redelivered while its
// replica was alive and busy with the previous one, and ran twice (two replicas streamed one speak).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StorageType } from '@nats-io/jetstream';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Bus, HeldDelivery, LoopGapWatch, consume, type ConsumerHandle } from '@switchboard/bus';
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

test('a held delivery is its own until ack_wait after its last keep-alive (less a margin); past that, no keep-alive, nak or ack is sent for it', () => {
  // The slow-consumer pipeline run: a replica woken from SIGSTOP nak'ed a speak the server had
  // meanwhile given to another replica, and the server (which matches naks by stream sequence)
  // gave it to a third. Pure arithmetic here, on a fake clock: no timer fires in this test.
  let now = 10_000;
  let beats = 0;
  const msg = { working: () => void beats++ };
  const fresh = new HeldDelivery(msg, { ackWaitMs: 4_000, sentNoEarlierThan: now, now: () => now });
  assert.equal(beats, 0, 'taken at once: the periodic keep-alive (every ack_wait/3) is soon enough');
  now += 2_900;
  assert.equal(fresh.owned(), true, 'within ack_wait less a quarter of it');
  now += 200;
  assert.equal(fresh.owned(), false, 'frozen past ack_wait − margin: the server may have handed it on');
  assert.ok(fresh.lostForMs >= 100);
  fresh.stop();

  // Read right after a stall: the server may have sent it when the stall began.
  now = 50_000;
  const unreadLong = new HeldDelivery(msg, { ackWaitMs: 4_000, sentNoEarlierThan: now - 3_500, now: () => now });
  assert.equal(unreadLong.owned(), false, 'sent 3.5 s ago with a 4 s ack_wait: not ours to stream');
  assert.equal(beats, 0, 'and no keep-alive for it (it would extend the other holder\'s delivery)');
  const unreadShort = new HeldDelivery(msg, { ackWaitMs: 4_000, sentNoEarlierThan: now - 1_500, now: () => now });
  assert.equal(unreadShort.owned(), true);
  assert.equal(beats, 1, 'sent 1.5 s ago: a keep-alive goes out at once, the server counts ack_wait from now');
  now += 3_900;
  assert.equal(unreadShort.owned(), false);
  unreadShort.stop();
  unreadLong.stop();
});

test('loop gaps: a stalled loop is seen, and a message read just after a stall may have waited since it began', async () => {
  const watch = new LoopGapWatch(20);
  await new Promise((r) => setTimeout(r, 60));
  const before = performance.now();
  assert.ok(watch.unreadSince(1_000) >= before - 1, 'no stall: read now, sent now');
  const stall = performance.now();
  while (performance.now() - stall < 400); // the loop does not run: as if SIGSTOPped
  const since = watch.unreadSince(1_000);
  assert.ok(since <= stall + 1 && since >= stall - 60, `the stall's start (${Math.round(stall - since)} ms before it)`);
  watch.stop();
});
