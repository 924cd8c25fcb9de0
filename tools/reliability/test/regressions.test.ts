// Regression tests for what the reliability runs found in the orchestrator shell
// (services/session-orchestrator/src/shell/partition.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, provision } from '@switchboard/bus';
import { STREAMS, encodeEvent, makeEvent, partitionOf, subjects } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { startNatsServer, eventually, type NatsServerHandle } from '@switchboard/testkit';
import { HistoryRecorder, ReplicaSet, ORCHESTRATOR_MAIN, orchestratorEnv, readDlq, createRng, seededSessionId, leaseOwners } from '@switchboard/reliability';

let server: NatsServerHandle;
let bus: Bus;
let rec: HistoryRecorder;
let orch: ReplicaSet;
const rng = createRng(7);
const emit = (type: 'CALL_STARTED' | 'STT_FINAL' | 'SPEECH_STARTED', sid: string, id: string) =>
  bus.publishEvent(
    type === 'STT_FINAL'
      ? makeEvent('STT_FINAL', { sessionId: sid, source: 'test', eventId: id }, { text: 'where is my order', isFinal: true })
      : type === 'SPEECH_STARTED'
        ? makeEvent('SPEECH_STARTED', { sessionId: sid, source: 'test', eventId: id }, { audioMs: 0 })
        : makeEvent('CALL_STARTED', { sessionId: sid, source: 'test', eventId: id }, {}),
  );
const state = async (sid: string) => ((await (await fetch(`${orch.url()}/sessions/${sid}`)).json()) as { state: string }).state;

before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'test', log: createLogger({ service: 'test', level: 'warn' }), partitions: 16 });
  await provision(bus.nc, bus.jsm, { leaseTtlMs: 1000 });
  rec = await HistoryRecorder.start(bus);
  orch = new ReplicaSet({ service: 'session-orchestrator', entry: ORCHESTRATOR_MAIN, env: () => orchestratorEnv(server.url) });
  await orch.start(1, 'orch');
});
after(async () => {
  await rec?.stop();
  await orch?.stopAll('SIGKILL');
  await bus?.drain();
  await server?.stop();
});

test('a new owner does not wait 30 s for, nor skip, events a dead owner held unacked', async () => {
  const sid = seededSessionId(rng);
  await emit('CALL_STARTED', sid, `${sid}:start`);
  await eventually(async () => (await state(sid)) === 'LISTENING', 'listening');
  await orch.stopAll('SIGTERM'); // hands its leases back
  // A "dead owner": takes the STT_FINAL from the partition's durable and never acks it.
  const durable = await bus.js.consumers.get(STREAMS.events, `orchestrator-p${partitionOf(sid, 16)}`);
  await emit('STT_FINAL', sid, `${sid}:final`);
  const held = await durable.next({ expires: 2000 });
  assert.equal(held?.subject, subjects.event(sid, 'STT_FINAL', 16), 'the final is held unacked');
  await emit('SPEECH_STARTED', sid, `${sid}:later`); // a later event of the same session
  await orch.start(1, 'orch2');
  const t0 = Date.now();
  // Before the fix: SPEECH_STARTED was applied first, and the final (redelivered after ack_wait,
  // 30 s) was skipped as already applied: the turn never opened.
  await eventually(() => rec.commands.some((c) => c.command.sessionId === sid && c.command.commandType === 'RAG_QUERY'), 'the held final opened its turn', 10_000);
  assert.ok(Date.now() - t0 < 10_000);
  assert.equal(await state(sid), 'THINKING');
});

test('an event whose body names another session than its subject reaches neither (DLQ wrong_partition)', async () => {
  const a = seededSessionId(rng);
  const b = seededSessionId(rng);
  await emit('CALL_STARTED', a, `${a}:start`);
  await emit('CALL_STARTED', b, `${b}:start`);
  await eventually(async () => (await state(a)) === 'LISTENING' && (await state(b)) === 'LISTENING', 'both listening');
  const forged = makeEvent('STT_FINAL', { sessionId: b, source: 'test', eventId: `${a}:forged` }, { text: 'transfer my money', isFinal: true });
  const ack = await bus.js.publish(subjects.event(a, 'STT_FINAL', 16), encodeEvent(forged), { msgID: forged.eventId });
  const dl = await eventually(async () => (await readDlq(bus)).find((d) => d.seq === ack.seq), 'dead letter');
  assert.equal(dl.reason, 'wrong_partition');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!rec.commands.some((c) => c.command.commandType === 'RAG_QUERY' && (c.command.sessionId === a || c.command.sessionId === b)), 'no turn opened anywhere');
  assert.equal(await state(a), 'LISTENING');
  assert.equal(await state(b), 'LISTENING');
});

test('a new owner takes the durable away from a live stale owner: no event goes to the stale pull', async () => {
  const sid = seededSessionId(rng);
  const p = partitionOf(sid, 16);
  await emit('CALL_STARTED', sid, `${sid}:start`);
  await eventually(async () => (await state(sid)) === 'LISTENING', 'listening');
  await orch.stopAll('SIGTERM');
  // An owner that does not know it lost the lease yet: nothing unacked, but a pull still open on
  // the durable. Before, the new owner rewound only when events were unacked, so the final went to
  // this pull (never acked, redelivered 30 s later and skipped behind SPEECH_STARTED).
  const durable = await bus.js.consumers.get(STREAMS.events, `orchestrator-p${p}`);
  const stale = durable.next({ expires: 8_000 }).catch(() => null);
  await orch.start(1, 'orch3');
  await eventually(async () => (await leaseOwners(bus, 'orchestrator', 16)).get(p) === 'orch3-a', 'the new owner holds the partition');
  await new Promise((r) => setTimeout(r, 500)); // its durable is bound
  await emit('STT_FINAL', sid, `${sid}:final3`);
  await emit('SPEECH_STARTED', sid, `${sid}:later3`);
  assert.equal((await stale)?.subject, undefined, 'the stale pull got nothing');
  await eventually(() => rec.commands.some((c) => c.command.sessionId === sid && c.command.commandType === 'RAG_QUERY'), 'the final opened its turn', 10_000);
});
