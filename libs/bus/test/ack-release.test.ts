// consume() frees a message's key for the next message of the key as soon as the ack is written,
// not when the server's confirmation of it comes back: an orchestrator session's RAG_ANSWER_READY
// waited one server round trip per INTENT/PARTIAL queued before it. A proxy swallows every ack
// confirmation here, so the old code held each key for the ack's 5 s timeout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { consume, type ConsumerHandle } from '@switchboard/bus';
import { captureLogger, eventually } from './helpers';
import { startProxiedBuses, type ProxiedBuses } from './fixtures/frame-proxy';

const STREAM = 'ACK_RELEASE';
/** far below the ack confirmation timeout (5 s) the old code waited per message */
const BUDGET_MS = 1_500;

let sut: ProxiedBuses;
let handle: ConsumerHandle | undefined;
let swallowAcks = false;
const { log, lines } = captureLogger();

before(async () => {
  // The server confirms an ack with an empty message to the client's inbox; API replies carry JSON.
  sut = await startProxiedBuses({ name: 'ack', stream: STREAM, subjects: ['ackrelease.>'], log, drop: (f) => swallowAcks && f.subject.startsWith('_INBOX.') && f.headers === '' && f.size === 0 });
});
after(async () => {
  await handle?.stop();
  await sut?.close();
});

test('the next message of a key is handled once the ack is written, without waiting for its confirmation', async () => {
  const handled: Array<{ id: string; at: number }> = [];
  handle = await consume<string>(sut.consumerBus, {
    stream: STREAM,
    consumer: 'release',
    config: { filter_subject: 'ackrelease.>' },
    decode: (m) => new TextDecoder().decode(m.data),
    keyOf: () => 'one-session', // every message waits for the one before it
    handle: async (id) => {
      handled.push({ id, at: Date.now() });
    },
  });
  swallowAcks = true;
  const sent = Date.now();
  for (let i = 0; i < 5; i++) await sut.producer.js.publish(`ackrelease.${i}`, new TextEncoder().encode(`m${i}`));
  await eventually(() => handled.length === 5, 'five messages of one key handled', 30_000);
  const took = handled[4]!.at - sent;
  assert.deepEqual(handled.map((h) => h.id), ['m0', 'm1', 'm2', 'm3', 'm4'], 'in order');
  assert.ok(took < BUDGET_MS, `the fifth message of the key was handled ${took} ms after the first was sent, with every ack confirmation lost (budget ${BUDGET_MS} ms)`);
  assert.ok(sut.proxy.dropped.length >= 1, 'ack confirmations were swallowed');
  // The acks themselves reached the server: nothing is pending, nothing will come again.
  await eventually(async () => (await sut.producer.jsm.consumers.info(STREAM, 'release')).num_ack_pending === 0, 'every ack reached the server', 5_000);
  // stop() waits for the confirmations still out (here: their 5 s timeout), and says they were not confirmed.
  await handle.stop();
  handle = undefined;
  assert.ok(lines.filter((l) => /ack not confirmed/.test(String(l['msg']))).length >= 1, 'a lost confirmation is logged');
});
