// The session record written on every decision carries only the history the history key lacks;
// load() joins both, so readers and a new owner still see the whole bounded history.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import type { Bus } from '@switchboard/bus';
import { BUCKETS, newSessionId } from '@switchboard/contracts';
import { initialState } from '../src/fsm';
import { SessionStore, historyDue, sessionKey, type SessionRecord } from '../src/shell/store';
import { producerBus } from './harness';

let server: NatsServerHandle;
let bus: Bus;
let store: SessionStore;

before(async () => {
  server = await startNatsServer();
  bus = await producerBus(server.url);
  store = new SessionStore(await bus.kv(BUCKETS.sessions));
});
after(async () => {
  await bus?.drain();
  await server?.stop();
});

/** a record after `events` decisions: one transition each, a completed turn every 4th */
function recordAfter(sessionId: string, events: number): SessionRecord {
  const fsm = initialState(sessionId, 1_000);
  for (let seq = 1; seq <= events; seq++) {
    fsm.timeline.push({ from: 'LISTENING', to: 'THINKING', eventType: 'STT_FINAL', at: 1_000 + seq, latencyMs: 1, turnId: `turn_${seq}`, eventSeq: seq });
    if (seq % 4 === 0) fsm.turnsCompleted.push({ turnId: `turn_${seq}`, outcome: 'completed', startedAt: seq, endedAt: seq + 1, marks: { final: seq } });
    fsm.lastSeq = seq;
  }
  return { fsm, fence: 1, owner: 'r1', partition: 3, outbox: [] };
}

test('the hot record leaves out what the history key holds; load() returns the whole history', async () => {
  const sid = newSessionId();
  const at20 = recordAfter(sid, 20);
  let rev = await store.save(at20, 0);
  assert.ok(historyDue({ record: at20, revision: rev }), '20 transitions of its own: history due');
  const mark = await store.saveHistory(at20);
  assert.deepEqual(mark, { seq: 20, lastTurnId: 'turn_20' });
  assert.equal(historyDue({ record: at20, revision: rev, hist: mark }), false);

  const at26 = recordAfter(sid, 26);
  rev = await store.save(at26, rev, mark);
  const kv = await bus.kv(BUCKETS.sessions);
  const raw = JSON.parse(new TextDecoder().decode((await kv.get(sessionKey(3, sid)))!.value)) as SessionRecord & { hist: unknown };
  assert.deepEqual(raw.fsm.timeline.map((t) => t.eventSeq), [21, 22, 23, 24, 25, 26], 'only transitions after the mark are rewritten');
  assert.deepEqual(raw.fsm.turnsCompleted.map((t) => t.turnId), ['turn_24']);
  assert.deepEqual(raw.hist, mark);

  const loaded = await store.load(3, sid);
  assert.equal(loaded?.revision, rev);
  assert.deepEqual(loaded?.record.fsm.timeline, at26.fsm.timeline);
  assert.deepEqual(loaded?.record.fsm.turnsCompleted, at26.fsm.turnsCompleted);
  assert.deepEqual(loaded?.hist, mark);
  // history keys are not sessions
  assert.deepEqual(await store.sessionsOfPartition(3), [sid]);
  assert.deepEqual(await store.allKeys(), [{ partition: 3, sessionId: sid }]);
});

test('a history key newer than the mark (its hot write never happened) joins without duplicates', async () => {
  const sid = newSessionId();
  const at10 = recordAfter(sid, 10);
  const rev = await store.save(at10, 0);
  const mark = await store.saveHistory(recordAfter(sid, 4));
  const at12 = recordAfter(sid, 12);
  await store.save(at12, rev, mark);
  await store.saveHistory(at10); // written, then the owner died before saving with the new mark
  const loaded = await store.load(3, sid);
  assert.deepEqual(loaded?.record.fsm.timeline.map((t) => t.eventSeq), at12.fsm.timeline.map((t) => t.eventSeq));
  assert.deepEqual(loaded?.record.fsm.turnsCompleted.map((t) => t.turnId), ['turn_4', 'turn_8', 'turn_12']);
});
