// bench/bus: the bus library's publish→consume latency and throughput as a ratio to a bare
// nats.js JetStream loop measured in the same run, on the same server.
// Run: node --import tsx bench/bus/run.ts [--n 2000] [--burst 10000]
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '@switchboard/testkit';
import { Bus, consume, provision, durableConsumer } from '@switchboard/bus';
import { STREAMS, decodeEvent, makeEvent, newSessionId, encodeEvent, subjects } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { summarize, fmt, hrMs } from '../stats';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' }, burst: { type: 'string', default: '10000' } } });
const N = Number(values.n);
const BURST = Number(values.burst);
const server = await startNatsServer();
const log = createLogger({ service: 'bench', level: 'warn' });
const bus = await Bus.connect({ servers: server.url, service: 'bench', log, partitions: 64 });
await provision(bus.nc, bus.jsm);
const sid = newSessionId();
const payload = (i: number) => makeEvent('STT_FINAL', { sessionId: sid, source: 'bench', eventId: `b-${i}-${Math.random()}` }, { text: 'where is my order number one two three', isFinal: true });

// ---- bare nats.js loop (the floor) ----
async function bare(): Promise<{ lat: number[]; rate: number }> {
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const subject = subjects.event(sid, 'STT_FINAL', 64);
  await jsm.consumers.add(STREAMS.events, { durable_name: 'bare', filter_subject: subject, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New });
  const c = await js.consumers.get(STREAMS.events, 'bare');
  let resolveNext: (() => void) | undefined;
  let received = 0;
  const msgs = await c.consume({
    max_messages: 256,
    callback: (m) => {
      m.ack();
      received++;
      resolveNext?.();
    },
  });
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    const data = encodeEvent(payload(i));
    const t = process.hrtime.bigint();
    const got = new Promise<void>((r) => (resolveNext = r));
    await js.publish(subject, data, { msgID: `bare-${i}-${Math.random()}` });
    await got;
    lat.push(hrMs(t));
  }
  received = 0;
  const t0 = process.hrtime.bigint();
  const done = new Promise<void>((r) => (resolveNext = () => received >= BURST && r()));
  const pubs: Promise<unknown>[] = [];
  for (let i = 0; i < BURST; i++) pubs.push(js.publish(subject, encodeEvent(payload(i)), { msgID: `bare-burst-${i}-${Math.random()}` }));
  await Promise.all(pubs);
  await done;
  const rate = BURST / (hrMs(t0) / 1000);
  await msgs.close();
  await nc.drain();
  return { lat, rate };
}

// ---- the bus library (validation, keyed executor, double ack, DLQ path armed) ----
async function lib(): Promise<{ lat: number[]; rate: number }> {
  let resolveNext: (() => void) | undefined;
  let received = 0;
  const handle = await consume(bus, {
    stream: STREAMS.events,
    consumer: 'lib',
    config: durableConsumer('lib', `voice.evt.*.${sid}.>`, { deliver_policy: DeliverPolicy.New }),
    decode: (m) => decodeEvent(m.data),
    keyOf: (e) => e.eventId, // independent messages: measure the library, not per-session serialisation
    maxInFlight: 256,
    handle: async () => {
      received++;
      resolveNext?.();
    },
  });
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    const ev = payload(i);
    const t = process.hrtime.bigint();
    const got = new Promise<void>((r) => (resolveNext = r));
    await bus.publishEvent(ev);
    await got;
    lat.push(hrMs(t));
  }
  received = 0;
  const t0 = process.hrtime.bigint();
  const done = new Promise<void>((r) => (resolveNext = () => received >= BURST && r()));
  const pubs: Promise<unknown>[] = [];
  for (let i = 0; i < BURST; i++) pubs.push(bus.publishEvent(payload(i)));
  await Promise.all(pubs);
  await done;
  const rate = BURST / (hrMs(t0) / 1000);
  await handle.stop();
  return { lat, rate };
}

const floor = await bare();
const ours = await lib();
const f = summarize(floor.lat);
const o = summarize(ours.lat);
console.log(`bench/bus — publish→consume, ${N} sequential messages, ${BURST}-message burst; nats-server ${bus.nc.info?.version}`);
console.log(`                     p50 ms   p99 ms   burst msg/s`);
console.log(`bare nats.js      ${fmt(f.p50).padStart(8)} ${fmt(f.p99).padStart(8)} ${fmt(floor.rate, 0).padStart(12)}`);
console.log(`@switchboard/bus  ${fmt(o.p50).padStart(8)} ${fmt(o.p99).padStart(8)} ${fmt(ours.rate, 0).padStart(12)}`);
console.log(`ratio (bus/bare)  ${fmt(o.p50 / f.p50, 2).padStart(8)}x ${fmt(o.p99 / f.p99, 2).padStart(7)}x ${fmt(ours.rate / floor.rate, 2).padStart(11)}x   (goal p50 ≤ 1.2x)`);
await bus.drain();
await server.stop();
