// The CLI as an operator runs it: a child process talking to a real orchestrator (in-process
// here) over its HTTP and gRPC APIs, with events published on a real nats-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startNatsServer, captureLogs, eventually, freePort, spawnNode, type NatsServerHandle } from '@switchboard/testkit';
import { startService, type RunningService } from '@switchboard/runtime';
import type { Bus } from '@switchboard/bus';
import { newSessionId, partitionOf } from '@switchboard/contracts';
import { orchestratorService } from '@switchboard/session-orchestrator';
import { CommandRecorder, emit, orchestratorEnv, producerBus } from '../../../services/session-orchestrator/test/harness';
import { transitionLine } from '../src/format';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const CLOCK = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

let server: NatsServerHandle;
let svc: RunningService;
let bus: Bus;
let rec: CommandRecorder;
const logs = captureLogs();
/** a session that went through one whole turn and is LISTENING again */
const done = newSessionId();

interface Run {
  code: number | null;
  lines: string[];
  text: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawnNode(MAIN, { args, env: { SWITCHBOARD_HTTP: svc.url, SWITCHBOARD_GRPC: '', ...env } });
  const code = await child.exited;
  return { code, lines: [...child.lines], text: child.lines.join('\n') };
}

const getJson = async (path: string) => (await fetch(`${svc.url}${path}`)).json() as Promise<any>;
const state = async (sid: string) => (await getJson(`/sessions/${sid}`)).state as string;

before(async () => {
  server = await startNatsServer();
  bus = await producerBus(server.url);
  svc = await startService(orchestratorService, orchestratorEnv(server.url), { logDestination: logs.stream });
  rec = await CommandRecorder.start(bus);
  await eventually(async () => (await fetch(`${svc.url}/readyz`)).ok, 'orchestrator ready');

  // One whole exchange: call → speech → final → answer → playback → listening again.
  await emit(bus, 'CALL_STARTED', done, {});
  await eventually(async () => (await state(done)) === 'LISTENING', 'listening');
  await emit(bus, 'SPEECH_ENDED', done, { audioMs: 1000, durationMs: 800 });
  await emit(bus, 'STT_FINAL', done, { text: 'where is my order', isFinal: true });
  const q = await eventually(() => rec.of(done).find((r) => r.command.commandType === 'RAG_QUERY'), 'rag query');
  const turnId = q.command.ragQuery!.turnId;
  await emit(bus, 'RAG_ANSWER_READY', done, { turnId, text: 'Your order ships tomorrow.', intent: 'faq_question' }, { correlationId: turnId });
  const speak = await eventually(() => rec.of(done).find((r) => r.command.commandType === 'TTS_SPEAK'), 'tts speak');
  const speakId = speak.command.ttsSpeak!.speakId;
  await emit(bus, 'TTS_STARTED', done, { turnId, speakId, timeToFirstAudioMs: 40 }, { correlationId: turnId });
  await emit(bus, 'PLAYBACK_STARTED', done, { turnId, speakId }, { correlationId: turnId });
  await emit(bus, 'TTS_DONE', done, { turnId, speakId, audioMs: 1500 }, { correlationId: turnId });
  await emit(bus, 'PLAYBACK_DONE', done, { turnId, speakId, durationMs: 1500 }, { correlationId: turnId });
  await eventually(async () => (await getJson(`/sessions/${done}`)).timeline.length === 4, 'back to listening');
});

after(async () => {
  await rec?.stop();
  await svc?.stop();
  await bus?.drain();
  await server?.stop();
});

test('sessions: a table with state, turn, partition, owner, update time (and --json)', async () => {
  const [table, json] = await Promise.all([cli(['sessions']), cli(['sessions', '--json'])]);
  assert.equal(table.code, 0, table.text);
  assert.match(table.lines[0]!, /^SESSION\s+STATE\s+TURN\s+PARTITION\s+OWNER\s+UPDATED$/);
  const row = table.lines.find((l) => l.startsWith(done));
  assert.ok(row, table.text);
  const view = await getJson(`/sessions/${done}`);
  const cells = row.split(/\s{2,}/);
  assert.equal(cells[1], '🟢 LISTENING');
  assert.equal(cells[2], '-', 'no live turn');
  assert.equal(cells[3], String(partitionOf(done, 16)));
  assert.equal(cells[4], view.owner);
  assert.match(cells[5]!, new RegExp(`^${CLOCK} \\(.+ ago\\)$`));

  assert.equal(json.code, 0, json.text);
  const doc = JSON.parse(json.text) as { sessions: Array<Record<string, unknown>> };
  const mine = doc.sessions.find((s) => s['sessionId'] === done);
  assert.deepEqual(mine, { sessionId: done, state: 'LISTENING', turnId: '', partition: partitionOf(done, 16), owner: view.owner, updatedAt: view.updatedAt });
});

test('session <id>: state and its contract, turn, counters', async () => {
  const [text, json] = await Promise.all([cli(['session', done]), cli(['session', done, '--json'])]);
  assert.equal(text.code, 0, text.text);
  assert.match(text.text, new RegExp(`^session   ${done}$`, 'm'));
  assert.match(text.text, new RegExp(`^state     🟢 LISTENING  since ${CLOCK}`, 'm'));
  assert.match(text.text, /^contract  mic OPEN · playback STOPPED · on entry: set_mic_open, arm_no_input$/m);
  assert.match(text.text, /^turn      -$/m);
  assert.match(text.text, /^counters  turns 1 · cancelled 0 · barge-ins 0 · rejected 0 · stale 0 · observed \d+$/m);
  assert.match(text.text, /^timers    noInput at /m);
  assert.equal(json.code, 0);
  const doc = JSON.parse(json.text);
  assert.equal(doc.state, 'LISTENING');
  assert.equal(doc.counters.turns, 1);
  assert.deepEqual(doc.contract.entry, ['set_mic_open', 'arm_no_input']);
});

test('timeline <id>: every logged event in order, joined with the transition it caused and its latency', async () => {
  const [text, json] = await Promise.all([cli(['timeline', done]), cli(['timeline', done, '--json'])]);
  assert.equal(text.code, 0, text.text);
  const view = await getJson(`/sessions/${done}`);
  const { events } = await getJson(`/sessions/${done}/events`);
  assert.equal(events.length, 8);
  assert.match(text.lines[0]!, new RegExp(`^timeline of ${done}: 8 event\\(s\\) from the event log, 4 stored transition\\(s\\)$`));
  assert.match(text.lines[1]!, /^SEQ\s+TIME\s+EVENT\s+SOURCE\s+DETAIL\s+TRANSITION\s+TURN$/);
  const rows = text.lines.slice(2);
  assert.deepEqual(
    rows.map((r) => r.split(/\s{2,}/)[2]),
    ['CALL_STARTED', 'SPEECH_ENDED', 'STT_FINAL', 'RAG_ANSWER_READY', 'TTS_STARTED', 'PLAYBACK_STARTED', 'TTS_DONE', 'PLAYBACK_DONE'],
  );
  const [t0, t1, t2, t3] = view.timeline as Array<{ latencyMs: number; turnId: string }>;
  assert.match(rows[0]!, new RegExp(`⚪ IDLE → 🟢 LISTENING  ${t0!.latencyMs} ms in IDLE`));
  assert.match(rows[1]!, /800 ms\s+·$/, 'observed, no transition');
  assert.match(rows[2]!, new RegExp(`"where is my order"\\s+🟢 LISTENING → 🤔 THINKING  ${t1!.latencyMs} ms in LISTENING\\s+${t1!.turnId}$`));
  assert.match(rows[3]!, new RegExp(`"Your order ships tomorrow\\."[^🤔]*🤔 THINKING → 🔊 SPEAKING  ${t2!.latencyMs} ms in THINKING`));
  assert.match(rows[7]!, new RegExp(`🔊 SPEAKING → 🟢 LISTENING  ${t3!.latencyMs} ms in SPEAKING`));

  assert.equal(json.code, 0);
  const doc = JSON.parse(json.text) as { entries: Array<{ seq: number; eventType: string; transitions: unknown[] }> };
  assert.deepEqual(doc.entries.map((e) => e.seq), events.map((e: { seq: number }) => e.seq));
  assert.equal(doc.entries.reduce((n, e) => n + e.transitions.length, 0), 4);
});

test('latency <id>: per transition and per stage, with totals', async () => {
  const [text, json] = await Promise.all([cli(['latency', done]), cli(['latency', done, '--json'])]);
  assert.equal(text.code, 0, text.text);
  const lat = await getJson(`/latency/${done}`);
  for (const name of ['IDLE→LISTENING', 'LISTENING→THINKING', 'THINKING→SPEAKING', 'SPEAKING→LISTENING']) {
    assert.match(text.text, new RegExp(`^${name}\\s+1\\s+\\d+ ms`, 'm'), `${name} row`);
  }
  for (const stage of ['stt', 'rag', 'tts', 'playout', 'voice_to_voice']) assert.match(text.text, new RegExp(`^${stage}\\s+1\\s+`, 'm'), `${stage} row`);
  assert.match(text.text, new RegExp(`^total time covered by transitions: ${lat.totalMs < 1000 ? `${Math.round(lat.totalMs)} ms` : '.+ s'}$`, 'm'));
  assert.deepEqual(JSON.parse(json.text), lat);
});

test('tail <id> prints each transition as it happens; end <id> [reason] ends the call and the tail', async () => {
  const s = newSessionId();
  await emit(bus, 'CALL_STARTED', s, {});
  await eventually(async () => (await state(s)) === 'LISTENING', 'listening');
  const tail = spawnNode(MAIN, { args: ['tail', s], env: { SWITCHBOARD_HTTP: svc.url, SWITCHBOARD_GRPC: '' } });
  await tail.waitForLine(new RegExp(`^watching ${s}: 🟢 LISTENING at ${CLOCK}`), 15_000);
  await emit(bus, 'STT_FINAL', s, { text: 'talk to a human', isFinal: true });
  const line = await tail.waitForLine(/LISTENING → 🤔 THINKING/, 10_000);
  assert.match(line, new RegExp(`^${CLOCK}  🟢 LISTENING → 🤔 THINKING  \\(STT_FINAL, [\\d.]+ (ms|s) in LISTENING\\) turn_\\w+$`));
  const stored = (await getJson(`/sessions/${s}`)).timeline[1];
  assert.equal(line, transitionLine(stored), 'the stored transition, to the millisecond');

  const end = await cli(['end', s, 'test', 'over']);
  assert.equal(end.code, 0, end.text);
  assert.deepEqual(end.lines, [`ending ${s} (reason: test over)`]);
  await tail.waitForLine(new RegExp(`^${CLOCK}  🤔 THINKING → 🔴 ENDED  \\(CALL_ENDED, .+ in THINKING\\) turn_\\w+$`), 10_000);
  assert.equal(await tail.exited, 0, 'the tail ends with the call');
  assert.equal(tail.lines[tail.lines.length - 1], `${s} ended`);
  assert.equal((await getJson(`/sessions/${s}`)).end.reason, 'test over');

  const again = await cli(['end', s, '--json']);
  assert.equal(again.code, 0);
  assert.deepEqual(JSON.parse(again.text), { sessionId: s, accepted: false, alreadyEnded: true });
  // tail of an ended session prints its state and returns instead of waiting forever
  const ended = await cli(['tail', s]);
  assert.equal(ended.code, 0, ended.text);
  assert.match(ended.text, new RegExp(`^watching ${s}: 🔴 ENDED`));
});

test('an unknown session: exit 2 and a message naming it, for every per-session command', async () => {
  const ghost = newSessionId();
  const runs = await Promise.all(['session', 'timeline', 'latency', 'tail', 'end'].map((c) => cli([c, ghost])));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 2, `${i}: ${r.text}`);
    assert.match(r.text, new RegExp(`unknown session ${ghost} \\(the orchestrator at \\S+ has no record of it\\)`));
  }
  const json = await cli(['latency', ghost, '--json']);
  assert.equal(json.code, 2);
  assert.equal(JSON.parse(json.lines[0]!).error, 'UNKNOWN_SESSION');
});

test('orchestrator down: exit 3 and the message names the address; usage errors exit 1', async () => {
  const port = await freePort();
  const http = await cli(['sessions'], { SWITCHBOARD_HTTP: `http://127.0.0.1:${port}` });
  assert.equal(http.code, 3);
  assert.match(http.text, new RegExp(`cannot reach the orchestrator's HTTP API at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  const grpcPort = await freePort();
  const grpc = await cli(['sessions', '--grpc', `127.0.0.1:${grpcPort}`]);
  assert.equal(grpc.code, 3);
  assert.match(grpc.text, new RegExp(`cannot reach the orchestrator's gRPC API at 127\\.0\\.0\\.1:${grpcPort}`));
  const flag = await cli(['session', done, '--http', `http://127.0.0.1:${port}`]);
  assert.equal(flag.code, 3, 'the --http flag wins over the environment');

  const none = await cli([]);
  assert.equal(none.code, 1);
  assert.match(none.text, /^usage: switchboard <command>/m);
  const bad = await cli(['sesions']);
  assert.equal(bad.code, 1);
  assert.match(bad.text, /unknown command "sesions"/);
  const missing = await cli(['latency']);
  assert.equal(missing.code, 1);
  assert.match(missing.text, /missing session id/);
});
