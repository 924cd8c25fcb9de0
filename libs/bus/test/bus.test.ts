import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Bus, consume, provision, durableConsumer, HEADERS, PermanentError, BusError } from '@switchboard/bus';
import { STREAMS, decodeEvent, makeEvent, newSessionId, subjects, EventType, type Event } from '@switchboard/contracts';
import { captureLogger, eventually } from './helpers';

let server: NatsServerHandle;
let bus: Bus;
const { log, lines } = captureLogger();

before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'bus-test', log, partitions: 8 });
});
after(async () => {
  await bus?.drain();
  await server?.stop();
});

const sid = newSessionId();
let n = 0;
const final = (text: string, sessionId = sid): Event => makeEvent('STT_FINAL', { sessionId, source: 'test', eventId: `e${++n}-${Date.now()}` }, { text, isFinal: true });

async function dlqMessages(): Promise<Array<{ reason: string; detail: string; subject: string; data: Uint8Array }>> {
  const info = await bus.jsm.streams.info(STREAMS.dlq);
  const out: Array<{ reason: string; detail: string; subject: string; data: Uint8Array }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await bus.jsm.streams.getMessage(STREAMS.dlq, { seq }).catch(() => null);
    if (!m) continue;
    out.push({ reason: m.header.get(HEADERS.dlqReason), detail: decodeURIComponent(m.header.get(HEADERS.dlqDetail)), subject: decodeURIComponent(m.header.get(HEADERS.dlqSubject)), data: m.data });
  }
  return out;
}

test('provisioning twice changes nothing and keeps data', async () => {
  const first = await provision(bus.nc, bus.jsm);
  assert.ok(first.created.length >= 8, `created ${first.created.join(', ')}`);
  await bus.publishEvent(final('kept across provisioning'));
  const before = await bus.jsm.streams.info(STREAMS.events);
  const second = await provision(bus.nc, bus.jsm);
  assert.deepEqual(second.created, []);
  assert.deepEqual(second.updated, []);
  assert.equal(second.unchanged.length, first.created.length);
  const afterInfo = await bus.jsm.streams.info(STREAMS.events);
  assert.equal(afterInfo.created, before.created);
  assert.equal(afterInfo.state.messages, before.state.messages);
  assert.deepEqual(afterInfo.config, before.config);
});

test('a duplicate msg-id is stored once', async () => {
  const ev = final('say it twice');
  const a = await bus.publishEvent(ev);
  const b = await bus.publishEvent(ev);
  assert.equal(a.duplicate, false);
  assert.equal(b.duplicate, true);
  assert.equal(b.seq, a.seq);
});

test('invalid events are dead-lettered with a reason and the consumer keeps going', async () => {
  const received: string[] = [];
  const filter = `voice.evt.*.${sid}.>`;
  const handle = await consume(bus, {
    stream: STREAMS.events,
    consumer: 'validation-test',
    config: durableConsumer('validation-test', filter, { deliver_policy: 'new' as never }),
    decode: (m) => decodeEvent(m.data),
    keyOf: (e) => e.sessionId,
    handle: async (e) => {
      received.push(e.sttFinal?.text ?? e.eventType);
    },
  });
  const subject = subjects.event(sid, EventType.STT_FINAL, 8);
  const good = JSON.parse(JSON.stringify(final('x')));
  const raw = (mut: (o: any) => void, id: string) => {
    const o = JSON.parse(JSON.stringify(good));
    o.eventId = id;
    mut(o);
    return new TextEncoder().encode(JSON.stringify(o));
  };
  const bad: Array<[string, Uint8Array, string]> = [
    ['missing field', raw((o) => delete o.sttFinal.text, 'b1'), 'invalid'],
    ['wrong type', raw((o) => (o.sttFinal.isFinal = 'yes'), 'b2'), 'invalid'],
    ['oversized', raw((o) => (o.sttFinal.text = 'a'.repeat(70_000)), 'b3'), 'too_large'],
    ['bad utf-8', new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]), 'invalid'],
    ['unknown type', raw((o) => (o.eventType = 'WARP_DRIVE'), 'b5'), 'invalid'],
  ];
  const beforeDlq = (await dlqMessages()).length;
  for (const [, data] of bad) await bus.publish(subject, data);
  await bus.publishEvent(final('still flowing'));
  await eventually(() => received.includes('still flowing'), 'the good event after the bad ones');
  const dlq = (await eventually(async () => {
    const all = await dlqMessages();
    return all.length - beforeDlq >= bad.length ? all.slice(beforeDlq) : undefined;
  }, 'dead letters'))!;
  assert.deepEqual(received, ['still flowing']);
  assert.deepEqual(dlq.map((d) => d.reason), bad.map(([, , r]) => r));
  assert.match(dlq[0]!.detail, /sttFinal\.text/);
  assert.match(dlq[1]!.detail, /isFinal/);
  assert.match(dlq[3]!.detail, /UTF-8/);
  assert.match(dlq[4]!.detail, /unknown event type/);
  assert.equal(dlq[0]!.subject, subject);
  assert.deepEqual([...dlq[3]!.data], [...bad[3]![1]], 'the original bytes are kept');
  assert.ok(lines.some((l) => l['msg'] === 'message dead-lettered' && l['reason'] === 'too_large'), 'a log line per dead letter');
  await handle.stop();
});

test('a failing handler is retried with backoff, then dead-lettered; permanent errors go at once', async () => {
  const s2 = newSessionId();
  const attempts = new Map<string, number>();
  const handle = await consume(bus, {
    stream: STREAMS.events,
    consumer: 'retry-test',
    config: durableConsumer('retry-test', `voice.evt.*.${s2}.>`),
    decode: (m) => decodeEvent(m.data),
    maxDeliver: 3,
    backoffMs: [50, 50],
    handle: async (e) => {
      const text = e.sttFinal!.text;
      attempts.set(text, (attempts.get(text) ?? 0) + 1);
      if (text === 'always fails') throw new BusError('DOWNSTREAM', 'downstream unavailable', true);
      if (text === 'flaky' && attempts.get(text)! < 2) throw new Error('transient');
      if (text === 'poison') throw new PermanentError('BAD_STATE', 'cannot ever apply', { dlqReason: 'invalid_transition' });
    },
  });
  const before = (await dlqMessages()).length;
  for (const t of ['always fails', 'flaky', 'poison', 'fine']) await bus.publishEvent(final(t, s2));
  const dlq = (await eventually(async () => {
    const all = (await dlqMessages()).slice(before);
    return all.length >= 2 ? all : undefined;
  }, 'two dead letters'))!;
  await eventually(() => attempts.get('fine') === 1 && attempts.get('flaky') === 2, 'retries');
  assert.equal(attempts.get('always fails'), 3, 'delivered maxDeliver times');
  assert.equal(attempts.get('poison'), 1, 'permanent: no retry');
  const reasons = dlq.map((d) => d.reason).sort();
  assert.deepEqual(reasons, ['invalid_transition', 'max_deliveries']);
  assert.equal(handle.stats().deadLettered, 2);
  await handle.stop();
});

test('messages of one key are handled one at a time, in order; different keys in parallel', async () => {
  const s3 = newSessionId();
  const s4 = newSessionId();
  const order: string[] = [];
  let concurrentSameKey = 0;
  let maxSameKey = 0;
  let concurrentAll = 0;
  let maxAll = 0;
  const active = new Map<string, number>();
  const handle = await consume(bus, {
    stream: STREAMS.events,
    consumer: 'order-test',
    config: durableConsumer('order-test', 'voice.evt.>', { deliver_policy: 'new' as never }),
    decode: (m) => decodeEvent(m.data),
    keyOf: (e) => e.sessionId,
    maxInFlight: 8,
    handle: async (e) => {
      if (e.sessionId !== s3 && e.sessionId !== s4) return;
      const k = e.sessionId;
      active.set(k, (active.get(k) ?? 0) + 1);
      concurrentSameKey = active.get(k)!;
      maxSameKey = Math.max(maxSameKey, concurrentSameKey);
      maxAll = Math.max(maxAll, ++concurrentAll);
      await new Promise((r) => setTimeout(r, 5));
      order.push(`${k === s3 ? 'a' : 'b'}${e.sttFinal!.text}`);
      active.set(k, active.get(k)! - 1);
      concurrentAll--;
    },
  });
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 20; i++) {
    await bus.publishEvent(final(String(i), s3));
    await bus.publishEvent(final(String(i), s4));
  }
  await eventually(() => order.length === 40, '40 handled');
  assert.equal(maxSameKey, 1, 'never two at once for one session');
  assert.ok(maxAll >= 2, 'sessions run in parallel');
  for (const p of ['a', 'b']) assert.deepEqual(order.filter((o) => o[0] === p), Array.from({ length: 20 }, (_, i) => `${p}${i}`));
  await handle.stop();
});

test('connect fails with a clear error when nothing listens', async () => {
  await assert.rejects(
    Bus.connect({ servers: 'nats://127.0.0.1:1', service: 'x', log, partitions: 8, connectBudgetMs: 600 }),
    /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1 within 600 ms .*is nats-server running/,
  );
});

test('a dead letter that cannot be written is retried in place: later messages of its key wait for it', async () => {
  const s5 = newSessionId();
  const handled: string[] = [];
  await bus.jsm.streams.delete(STREAMS.dlq); // dead-letter publishes fail until it is back
  const handle = await consume(bus, {
    stream: STREAMS.events,
    consumer: 'dlq-order-test',
    config: durableConsumer('dlq-order-test', subjects.eventsAll, { deliver_policy: 'new' as never }),
    decode: (m) => decodeEvent(m.data),
    keyOf: (e) => e.sessionId,
    handle: async (e) => {
      if (e.sessionId !== s5) return;
      if (e.sttFinal!.text === 'rejected') throw new PermanentError('REJECTED', 'not for this session');
      handled.push(e.sttFinal!.text);
    },
  });
  try {
    await new Promise((r) => setTimeout(r, 200));
    await bus.publishEvent(final('rejected', s5));
    await bus.publishEvent(final('later', s5));
    // It used to be nak'ed (1 s) and the later message of the key ran first: out of order.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(handled, [], 'the later message waits while the dead letter cannot be written');
    await provision(bus.nc, bus.jsm);
    await eventually(() => handled.length === 1, 'the later message handled once the dead letter is written');
    const dl = (await dlqMessages()).filter((d) => d.subject.includes(s5));
    assert.deepEqual(dl.map((d) => d.reason), ['permanent_error']);
  } finally {
    await provision(bus.nc, bus.jsm);
    await handle.stop();
  }
});
