// bench/orchestrator: decision latency of the session orchestrator (event published → the
// command it causes received by a consumer of the command stream) against the floor measured
// in the same run on the same nats-server: a bare JetStream publish → durable consume, the
// double hop publish → consume → publish → consume (the orchestrator's path is event in +
// command out), and that double hop with a CAS write to a KV bucket in between (what the
// orchestrator also does: it stores the session state before publishing the commands).
//
// The orchestrator runs as a CHILD PROCESS (services/session-orchestrator/src/main.ts through
// child.ts, which adds a memory/CPU probe), so its CPU time and memory are its own and not the
// load generator's.
//
// Run: node --import tsx bench/orchestrator/run.ts [--sessions 1000] [--events 20000] [--rate 150]
//        [--rounds 4] [--partitions 64]
// --events is every steady-state decision (after the sessions' CALL_STARTED): up to 60 s worth
// at --rate (at most 45 %) are paced and measured for latency, the rest run closed-loop as fast
// as the orchestrator answers (throughput). The rate must stay under the orchestrator's
// capacity on this machine or the latency measured is queueing: the throughput line says
// what that capacity was.
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AckPolicy, DeliverPolicy, type JsMsg, type ConsumerMessages } from '@nats-io/jetstream';
import { StorageType, RetentionPolicy, DiscardPolicy } from '@nats-io/jetstream';
import { startNatsServer, spawnNode, freePort, type ChildHandle } from '@switchboard/testkit';
import { Bus, provision, ensureStream, ensureBucket, type ProvisionReport } from '@switchboard/bus';
import {
  BUCKETS,
  STREAMS,
  MicState,
  decodeCommand,
  decodeEvent,
  encodeCommand,
  encodeEvent,
  makeCommand,
  makeEvent,
  newId,
  newSessionId,
  partitionOf,
  subjects,
  type Command,
} from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { summarize, fmt } from '../stats';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    events: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '150' },
    rounds: { type: 'string', default: '4' },
    partitions: { type: 'string', default: '64' },
    'lease-ttl': { type: 'string', default: '1000' },
    out: { type: 'string', default: 'bench/out/orchestrator.html' },
  },
});
const SESSIONS = Number(values.sessions);
const EVENTS = Number(values.events);
const RATE = Number(values.rate);
/** paced, measured decisions; the rest of --events is the closed-loop throughput phase */
const LATENCY_N = Math.min(Math.round(EVENTS * 0.45), RATE * 60);
const BURST = Math.max(0, EVENTS - LATENCY_N);
const ROUNDS = Math.max(1, Number(values.rounds));
const PARTITIONS = Number(values.partitions);
/** partition lease TTL (the service default is 1000 ms); the leases bucket is provisioned with it */
const LEASE_TTL_MS = Number(values['lease-ttl']);
/** floor messages per variant per run (the three floors together = half the paced decisions) */
const FLOOR_N = Math.max(1000, Math.round(LATENCY_N / 6));
const WARMUP = 300;
const BURST_BUDGET_MS = 45_000;
/** an event whose command has not arrived after this is counted lost (the bench never hangs on it) */
const EVENT_BUDGET_MS = 10_000;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const t0 = Date.now();
const say = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}`);
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = createLogger({ service: 'bench', level: 'warn' });

// ---------------------------------------------------------------- infrastructure
const server = await startNatsServer();
const connectBus = (service: string) => Bus.connect({ servers: server.url, service, log, partitions: PARTITIONS });
const pub = await connectBus('bench-producer'); // events and floor messages are published here
const sub = await connectBus('bench-consumer'); // command and floor consumers
const hop = await connectBus('bench-hop'); // the floor's middle hop (stands where the orchestrator stands)
await provision(pub.nc, pub.jsm, { leaseTtlMs: LEASE_TTL_MS });
const report: ProvisionReport = { created: [], updated: [], unchanged: [] };
const durable = { storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, num_replicas: 1, duplicate_window: 120e9, max_age: 3600e9 };
await ensureStream(pub.jsm, { name: 'BENCH_FLOOR_IN', subjects: ['bench.in.>'], ...durable }, report);
await ensureStream(pub.jsm, { name: 'BENCH_FLOOR_OUT', subjects: ['bench.out.>'], ...durable }, report);
await ensureBucket(pub.nc, pub.jsm, 'bench_floor', { history: 1, storage: StorageType.File }, report);

const httpPort = await freePort();
const orch: ChildHandle = spawnNode(`${ROOT}bench/orchestrator/child.ts`, {
  env: {
    NATS_URL: server.url,
    HTTP_PORT: String(httpPort),
    HTTP_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    PARTITIONS: String(PARTITIONS),
    LEASE_TTL_MS: String(LEASE_TTL_MS),
    LOG_LEVEL: 'warn',
    REPLICA_ID: 'orchestrator-bench',
    // Timers would inject their own events (filler, no-input, turn timeout): this measures decisions on events.
    NO_INPUT_MS: '3600000',
    FILLER_AFTER_MS: '3600000',
    TURN_TIMEOUT_MS: '3600000',
    // BENCH_CPU_PROF=<dir>: V8 CPU profiles of the orchestrator, one per probe interval (child.ts)
    ...(process.env['BENCH_CPU_PROF'] ? { BENCH_CPU_PROF: process.env['BENCH_CPU_PROF'] } : {}),
  },
});
const orchUrl = `http://127.0.0.1:${httpPort}`;
async function waitFor(what: string, fn: () => Promise<boolean>, budgetMs: number): Promise<void> {
  const until = Date.now() + budgetMs;
  while (Date.now() < until) {
    if (await fn().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not within ${budgetMs} ms\n${orch.lines.slice(-20).join('\n')}`);
}
await waitFor('orchestrator ready', async () => (await fetch(`${orchUrl}/readyz`)).ok, 60_000);
await waitFor(`orchestrator owns ${PARTITIONS} partitions`, async () => new RegExp(`partitions_owned\\S* ${PARTITIONS}\\b`).test(await (await fetch(`${orchUrl}/metrics`)).text()), 60_000);
say(`nats-server ${server.url}, orchestrator child pid ${orch.pid} (${PARTITIONS} partitions, lease TTL ${LEASE_TTL_MS} ms), ${SESSIONS} sessions; ${LATENCY_N} paced decisions at ${RATE}/s in ${ROUNDS} rounds + ${BURST} closed-loop; floors ${FLOOR_N} each; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

interface Probe {
  n: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** event-loop delay since the previous probe */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
}
let probes = 0;
async function probe(): Promise<Probe> {
  const n = ++probes;
  process.kill(orch.pid, 'SIGUSR2');
  const line = await orch.waitForLine(new RegExp(`^bench-probe \\{"n":${n},`), 10_000);
  return JSON.parse(line.slice('bench-probe '.length)) as Probe;
}
const cpuMs = (p: Probe) => (p.cpuUserUs + p.cpuSystemUs) / 1000;
/** CPU ms of the load generator (this process) and of the nats-server, to show neither is the bottleneck. */
const CLK_TCK = 100;
function othersCpuMs(): { bench: number; nats: number } {
  const u = process.cpuUsage();
  let nats = NaN;
  try {
    const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    nats = ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    // not Linux: leave it out
  }
  return { bench: (u.user + u.system) / 1000, nats };
}

// ---------------------------------------------------------------- open-loop pacing
/** Calls `send` RATE times a second (on average; catches up after a late tick) until `count` sends. */
async function paced(count: number, rate: number, send: (i: number) => void): Promise<void> {
  const start = now();
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((now() - start) * rate) / 1000) + 1);
    while (sent < due) send(sent++);
    await sleep(1);
  }
}

// ---------------------------------------------------------------- the floor
type FloorKind = 'one' | 'two' | 'kv';
const floorLat: Record<FloorKind, number[]> = { one: [], two: [], kv: [] };
const floorPending = new Map<string, { t: number; kind: FloorKind; measure: boolean }>();
const floorSessions = Array.from({ length: SESSIONS }, () => newSessionId());
const floorKv = await hop.kv('bench_floor');
const kvRevisions = new Map<string, number>();
const kvChains = new Map<string, Promise<void>>();
/** the floor's stored value is as large as a real session record at the time (set before each floor block) */
let floorValue = new Uint8Array(2048);
const floorMsgs: ConsumerMessages[] = [];

async function durablePull(bus: Bus, stream: string, name: string, filter: string, onMsg: (m: JsMsg) => void): Promise<void> {
  await bus.jsm.consumers.add(stream, { durable_name: name, filter_subject: filter, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, max_ack_pending: 4096 });
  const c = await bus.js.consumers.get(stream, name);
  floorMsgs.push(await c.consume({ max_messages: 256, callback: onMsg }));
}

function floorArrived(m: JsMsg): void {
  const t = now();
  const id = decodeCommand(m.data).commandId;
  m.ack();
  const p = floorPending.get(id);
  if (!p) return;
  floorPending.delete(id);
  if (p.measure) floorLat[p.kind].push(t - p.t);
}
// one hop: the event itself is what the final consumer waits for
await durablePull(sub, 'BENCH_FLOOR_IN', 'floor-one', 'bench.in.one.>', (m) => {
  const t = now();
  const id = decodeEvent(m.data).eventId;
  m.ack();
  const p = floorPending.get(id);
  if (!p) return;
  floorPending.delete(id);
  if (p.measure) floorLat.one.push(t - p.t);
});
// the middle hop: decode the event, (kv: CAS-write a value the size of a session record,) publish a command, ack
const middle = (kind: 'two' | 'kv') => (m: JsMsg) => {
  const e = decodeEvent(m.data);
  const cmd = makeCommand('RAG_QUERY', { sessionId: e.sessionId, source: 'bench-hop', commandId: e.eventId, correlationId: 'turn_1' }, { turnId: 'turn_1', text: e.sttFinal?.text ?? '' });
  const forward = async () => {
    if (kind === 'kv') {
      const key = `k.${e.sessionId}`;
      const rev = kvRevisions.get(key);
      kvRevisions.set(key, rev === undefined ? await floorKv.create(key, floorValue) : await floorKv.update(key, floorValue, rev));
    }
    await hop.js.publish(`bench.out.${kind}.${e.sessionId}`, encodeCommand(cmd), { msgID: cmd.commandId });
    m.ack();
  };
  // one at a time per session, like the orchestrator's actors (the CAS needs it)
  const key = e.sessionId;
  const chain = (kvChains.get(key) ?? Promise.resolve()).then(forward, forward);
  kvChains.set(key, chain);
  void chain.finally(() => kvChains.get(key) === chain && kvChains.delete(key)).catch(() => undefined);
};
await durablePull(hop, 'BENCH_FLOOR_IN', 'floor-two-hop', 'bench.in.two.>', middle('two'));
await durablePull(hop, 'BENCH_FLOOR_IN', 'floor-kv-hop', 'bench.in.kv.>', middle('kv'));
await durablePull(sub, 'BENCH_FLOOR_OUT', 'floor-two-out', 'bench.out.two.>', floorArrived);
await durablePull(sub, 'BENCH_FLOOR_OUT', 'floor-kv-out', 'bench.out.kv.>', floorArrived);

let floorSeq = 0;
async function floorBlock(kind: FloorKind, n: number, measure: boolean): Promise<void> {
  await paced(n, RATE, () => {
    const sid = floorSessions[Math.floor(Math.random() * floorSessions.length)]!;
    const eventId = `floor-${kind}-${floorSeq++}`;
    const ev = makeEvent('STT_FINAL', { sessionId: sid, source: 'bench', eventId }, { text: `where is my order number ${floorSeq}`, isFinal: true });
    floorPending.set(eventId, { t: now(), kind, measure });
    pub.js.publish(`bench.in.${kind}.${sid}`, encodeEvent(ev), { msgID: eventId }).catch((err: unknown) => say(`floor publish failed: ${(err as Error).message}`));
  });
  await drained(() => floorPending.size, `floor ${kind}`);
}

async function drained(pending: () => number, what: string): Promise<number> {
  const until = Date.now() + EVENT_BUDGET_MS;
  while (pending() > 0 && Date.now() < until) await sleep(5);
  if (pending() > 0) say(`WARNING ${what}: ${pending()} message(s) without an answer after ${EVENT_BUDGET_MS} ms`);
  return pending();
}

// ---------------------------------------------------------------- the orchestrator
type Phase = 'creating' | 'listening' | 'thinking' | 'speaking';
type Expect = 'MIC_SET' | 'RAG_QUERY' | 'TTS_SPEAK';
interface Sess {
  id: string;
  phase: Phase;
  /** what the last event must produce, and when it was published (undefined: idle) */
  waiting?: { expect: Expect; text?: string; t: number; eventType: string; measure: boolean };
  turnId: string;
  speakId: string;
  n: number;
}
const sessions: Sess[] = Array.from({ length: SESSIONS }, () => ({ id: newSessionId(), phase: 'creating' as Phase, turnId: '', speakId: '', n: 0 }));
const byId = new Map(sessions.map((s) => [s.id, s]));
const idle: Sess[] = [];
/**
 * Sessions in SPEAKING go first: a real call's PLAYBACK_DONE follows its answer within
 * seconds, and the orchestrator's speak timeout (30 s, fixed) would otherwise fire for
 * sessions left waiting in the queue and turn the bench's next event into a rejected one.
 */
const idleSpeaking: Sess[] = [];
const orchTimeline: Array<[string, number, number]> = [];
const orchLat: Record<string, number[]> = { CALL_STARTED: [], STT_FINAL: [], RAG_ANSWER_READY: [], PLAYBACK_DONE: [] };
let inFlight = 0;
let lost = 0;
let onIdle: ((s: Sess) => void) | undefined;

function onCommand(m: JsMsg): void {
  const t = now();
  let cmd: Command;
  try {
    cmd = decodeCommand(m.data);
  } finally {
    m.ack();
  }
  const s = byId.get(cmd.sessionId);
  const w = s?.waiting;
  if (!s || !w || cmd.commandType !== w.expect) return;
  if (w.expect === 'MIC_SET' && cmd.micSet?.state !== MicState.MIC_STATE_OPEN) return; // the GATED one of entering SPEAKING
  if (w.expect === 'RAG_QUERY') {
    if (!cmd.ragQuery || cmd.ragQuery.text !== w.text) return;
    s.turnId = cmd.ragQuery.turnId;
    s.phase = 'thinking';
  } else if (w.expect === 'TTS_SPEAK') {
    if (!cmd.ttsSpeak || cmd.ttsSpeak.text !== w.text) return;
    s.speakId = cmd.ttsSpeak.speakId;
    s.phase = 'speaking';
  } else s.phase = 'listening';
  if (w.measure) {
    orchLat[w.eventType]!.push(t - w.t);
    orchTimeline.push([w.eventType, Math.round(w.t), Math.round((t - w.t) * 1000) / 1000]);
  }
  s.waiting = undefined;
  inFlight--;
  if (onIdle) onIdle(s);
  else (s.phase === 'speaking' ? idleSpeaking : idle).push(s);
}
const cmdMsgs: ConsumerMessages[] = [];
for (const [target, type] of [['gateway', 'MIC_SET'], ['rag', 'RAG_QUERY'], ['tts', 'TTS_SPEAK']] as const) {
  const name = `bench-${target}`;
  await sub.jsm.consumers.add(STREAMS.cmd[target], { durable_name: name, filter_subject: subjects.commandsOfType(target, type), ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, max_ack_pending: 4096 });
  cmdMsgs.push(await (await sub.js.consumers.get(STREAMS.cmd[target], name)).consume({ max_messages: 256, callback: onCommand }));
}

let textSeq = 0;
/** Publishes the session's next event (by phase) and what it must produce. */
function next(s: Sess, measure: boolean): void {
  s.n++;
  const base = { sessionId: s.id, source: 'bench', eventId: newId('evt') };
  let ev;
  if (s.phase === 'creating') {
    ev = makeEvent('CALL_STARTED', base, {});
    s.waiting = { expect: 'MIC_SET', t: 0, eventType: 'CALL_STARTED', measure };
  } else if (s.phase === 'listening') {
    const text = `where is my order number ${++textSeq}`;
    ev = makeEvent('STT_FINAL', base, { text, isFinal: true });
    s.waiting = { expect: 'RAG_QUERY', text, t: 0, eventType: 'STT_FINAL', measure };
  } else if (s.phase === 'thinking') {
    const text = `Your order ships tomorrow (${++textSeq}).`;
    ev = makeEvent('RAG_ANSWER_READY', { ...base, correlationId: s.turnId }, { turnId: s.turnId, text, intent: 'faq_question', confidence: 0.9 });
    s.waiting = { expect: 'TTS_SPEAK', text, t: 0, eventType: 'RAG_ANSWER_READY', measure };
  } else {
    ev = makeEvent('PLAYBACK_DONE', { ...base, correlationId: s.turnId }, { turnId: s.turnId, speakId: s.speakId, durationMs: 1000 });
    s.waiting = { expect: 'MIC_SET', t: 0, eventType: 'PLAYBACK_DONE', measure };
  }
  inFlight++;
  s.waiting.t = now();
  pub.publishEvent(ev).catch((err: unknown) => say(`event publish failed: ${(err as Error).message}`));
}

/** Open loop at RATE over idle sessions; returns how many sends found no idle session. */
async function orchBlock(n: number, measure: boolean): Promise<number> {
  let starved = 0;
  await paced(n, RATE, () => {
    const s = idleSpeaking.shift() ?? idle.shift();
    if (s) next(s, measure);
    else starved++;
  });
  await settle('orchestrator');
  // No session stays SPEAKING while the floors run (speak timeout): finish those turns, unmeasured.
  for (const s of idleSpeaking.splice(0)) next(s, false);
  await settle('orchestrator (ending turns)');
  return starved;
}

async function settle(what: string): Promise<void> {
  const left = await drained(() => inFlight, what);
  if (left > 0) {
    lost += left;
    for (const s of sessions) if (s.waiting) s.waiting = undefined; // never answered: keep them out of later blocks
    inFlight = 0;
  }
}

/** Sizes of the record rewritten on every decision (`<p>.<id>`), or of the history key written now and then (`h.<p>.<id>`). */
async function kvValueSizes(prefix = ''): Promise<number[]> {
  const kv = await sub.kv(BUCKETS.sessions);
  const sizes: number[] = [];
  const ids = sessions.map((s) => s.id);
  for (let i = 0; i < ids.length; i += 100) {
    const batch = await Promise.all(ids.slice(i, i + 100).map(async (id) => (await kv.get(`${prefix}${partitionOf(id, PARTITIONS)}.${id}`))?.value.length ?? 0));
    sizes.push(...batch.filter((n) => n > 0));
  }
  return sizes;
}

// ---------------------------------------------------------------- run
// 1. sessions (CALL_STARTED each: the orchestrator creates the state and opens the mic)
const memBase = await probe();
const createStart = now();
await paced(SESSIONS, RATE, (i) => next(sessions[i]!, true));
await settle('session creation');
const createSecs = (now() - createStart) / 1000;
await sleep(500);
const memSessions = await probe();
// What the process burns with no events (lease renewals, pull requests of its consumers),
// measured after a pause so that no backlog of the creation is counted.
await sleep(2000);
const idle0 = await probe();
const idleStart = now();
await sleep(3000);
const idleCores = (cpuMs(await probe()) - cpuMs(idle0)) / (now() - idleStart);
const kvFresh = summarize(await kvValueSizes());
say(`created ${idle.length}/${SESSIONS} sessions in ${fmt(createSecs, 1)} s; KV value ${fmt(kvFresh.mean, 0)} B mean`);

// 2. warm-up of every path (discarded)
await orchBlock(WARMUP, false);
for (const k of ['one', 'two', 'kv'] as const) await floorBlock(k, WARMUP, false);

// 3. measured rounds: orchestrator block, then the three floors, at the same rate
let starved = 0;
let orchCpuMs = 0;
let orchWallMs = 0;
let orchEvents = 0;
const roundLoop = { max: 0, p99: 0 };
const roundOthers = { bench: 0, nats: 0 };
for (let r = 0; r < ROUNDS; r++) {
  const a = await probe();
  const o0 = othersCpuMs();
  const w0 = now();
  const n = Math.round(LATENCY_N / ROUNDS);
  starved += await orchBlock(n, true);
  orchWallMs += now() - w0;
  const o1 = othersCpuMs();
  roundOthers.bench += o1.bench - o0.bench;
  roundOthers.nats += o1.nats - o0.nats;
  const z = await probe();
  orchCpuMs += cpuMs(z) - cpuMs(a);
  roundLoop.max = Math.max(roundLoop.max, z.loopDelayMaxMs);
  roundLoop.p99 = Math.max(roundLoop.p99, z.loopDelayP99Ms);
  orchEvents += n;
  const kv = await sub.kv(BUCKETS.sessions);
  const sample = sessions[Math.floor(Math.random() * sessions.length)]!;
  const e = await kv.get(`${partitionOf(sample.id, PARTITIONS)}.${sample.id}`);
  if (e) floorValue = new Uint8Array(e.value.length).fill(120);
  for (const k of ['one', 'two', 'kv'] as const) await floorBlock(k, Math.round(FLOOR_N / ROUNDS), true);
  say(`round ${r + 1}/${ROUNDS}: orchestrator ${n} events, floors ${Math.round(FLOOR_N / ROUNDS)} each (floor KV value ${floorValue.length} B)`);
}

// 4. throughput: every session sends its next event as soon as the previous one is answered
const burstStart = now();
const b0 = await probe();
const burstOthers0 = othersCpuMs();
let burstSent = 0;
let burstAnswered = 0;
const burstDone = new Promise<void>((resolve) => {
  onIdle = (s) => {
    burstAnswered++;
    if (burstSent < BURST) {
      burstSent++;
      next(s, false);
    } else if (inFlight === 0) resolve();
  };
});
for (const s of [...idleSpeaking.splice(0), ...idle.splice(0)]) {
  if (burstSent >= BURST) {
    idle.push(s);
    continue;
  }
  burstSent++;
  next(s, false);
}
// Bounded in time too, so a slow (or contended) machine still finishes in a few minutes.
await Promise.race([burstDone, sleep(BURST_BUDGET_MS)]);
const burstOthers1 = othersCpuMs();
const b1 = await probe();
const burstSecs = (now() - burstStart) / 1000;
onIdle = undefined;
const burstRate = burstAnswered / burstSecs;
if (burstAnswered < BURST) say(`burst: stopped after ${BURST_BUDGET_MS / 1000} s with ${burstAnswered}/${BURST} answered (throughput from what was answered)`);
const burstCores = (cpuMs(b1) - cpuMs(b0)) / 1000 / burstSecs;
say(`burst: ${burstAnswered} events in ${fmt(burstSecs, 1)} s`);

if (process.env['BENCH_METRICS']) console.log((await (await fetch(`${orchUrl}/metrics`)).text()).split('\n').filter((l) => /decision_latency|consumer_in_flight|events_applied/.test(l)).join('\n'));
const memEnd = await probe();
const kvEnd = summarize(await kvValueSizes());
const kvHistory = summarize(await kvValueSizes('h.'));

// ---------------------------------------------------------------- results
const decided = [...orchLat['STT_FINAL']!, ...orchLat['RAG_ANSWER_READY']!, ...orchLat['PLAYBACK_DONE']!];
const S = {
  orchestrator: summarize(decided),
  one: summarize(floorLat.one),
  two: summarize(floorLat.two),
  kv: summarize(floorLat.kv),
};
const perType = Object.fromEntries(Object.entries(orchLat).map(([k, v]) => [k, summarize(v)]));
const cores = orchCpuMs / orchWallMs;
const perCore = orchEvents / (orchCpuMs / 1000);
const netCpuMs = orchCpuMs - idleCores * orchWallMs;
const perCoreNet = netCpuMs > 0 ? orchEvents / (netCpuMs / 1000) : NaN;
const row = (name: string, s: ReturnType<typeof summarize>) =>
  `${name.padEnd(44)} n=${String(s.n).padStart(6)}  p50 ${fmt(s.p50).padStart(7)}  p95 ${fmt(s.p95).padStart(7)}  p99 ${fmt(s.p99).padStart(7)}  max ${fmt(s.max).padStart(8)} ms`;
const lines = [
  '',
  `orchestrator decision latency at ${RATE} events/s, ${SESSIONS} sessions (event publish → resulting command received), vs the floor in the same run:`,
  row('floor: publish → durable consume', S.one),
  row('floor: double hop (pub→consume→pub→consume)', S.two),
  row('floor: double hop + KV CAS write in between', S.kv),
  row('orchestrator (all steady-state events)', S.orchestrator),
  ...Object.entries(perType).map(([k, s]) => row(`  ${k} → ${k === 'STT_FINAL' ? 'RAG_QUERY' : k === 'RAG_ANSWER_READY' ? 'TTS_SPEAK' : 'MIC_SET open'}${k === 'CALL_STARTED' ? ' (creation)' : ''}`, s)),
  '',
  `overhead over the double-hop floor: p50 +${fmt(S.orchestrator.p50 - S.two.p50)} ms, p99 +${fmt(S.orchestrator.p99 - S.two.p99)} ms  (goal ≤ 1 ms / ≤ 5 ms: ${S.orchestrator.p50 - S.two.p50 <= 1 ? 'met' : 'MISSED'} / ${S.orchestrator.p99 - S.two.p99 <= 5 ? 'met' : 'MISSED'})`,
  `overhead over the double hop + KV write:  p50 +${fmt(S.orchestrator.p50 - S.kv.p50)} ms, p99 +${fmt(S.orchestrator.p99 - S.kv.p99)} ms`,
  `overhead over the single-hop floor:       p50 +${fmt(S.orchestrator.p50 - S.one.p50)} ms, p99 +${fmt(S.orchestrator.p99 - S.one.p99)} ms`,
  '',
  `CPU (orchestrator process only): ${fmt(cores, 3)} cores at ${RATE}/s → ${fmt(perCore, 0)} events per CPU-second (${fmt(perCoreNet, 0)} net of the ${fmt(idleCores, 3)} cores it uses idle)`,
  `throughput, closed loop over ${SESSIONS} sessions: ${fmt(burstRate, 0)} events/s using ${fmt(burstCores, 2)} cores → ${fmt(burstRate / burstCores, 0)} events per CPU-second`,
  `other processes (cores): load generator ${fmt(roundOthers.bench / orchWallMs, 2)} paced, ${fmt((burstOthers1.bench - burstOthers0.bench) / 1000 / burstSecs, 2)} closed loop; nats-server ${fmt(roundOthers.nats / orchWallMs, 2)} paced, ${fmt((burstOthers1.nats - burstOthers0.nats) / 1000 / burstSecs, 2)} closed loop`,
  `orchestrator event-loop delay: paced rounds p99 ≤ ${fmt(roundLoop.p99, 1)} ms, max ${fmt(roundLoop.max, 1)} ms; closed loop p99 ${fmt(b1.loopDelayP99Ms, 1)} ms, max ${fmt(b1.loopDelayMaxMs, 1)} ms`,
  `memory per session (after GC, ${SESSIONS} fresh sessions): heap ${fmt((memSessions.heapUsed - memBase.heapUsed) / SESSIONS / 1024, 2)} KiB, RSS ${fmt((memSessions.rss - memBase.rss) / SESSIONS / 1024, 2)} KiB`,
  `memory per session (after GC, end of run, ~${Math.round(EVENTS / SESSIONS) + 1} events each): heap ${fmt((memEnd.heapUsed - memBase.heapUsed) / SESSIONS / 1024, 2)} KiB, RSS ${fmt((memEnd.rss - memBase.rss) / SESSIONS / 1024, 2)} KiB (process RSS ${fmt(memEnd.rss / 2 ** 20, 1)} MiB)`,
  `KV value per session (sessions bucket): fresh ${fmt(kvFresh.mean, 0)} B mean; end of run mean ${fmt(kvEnd.mean, 0)} B, p50 ${fmt(kvEnd.p50, 0)} B, max ${fmt(kvEnd.max, 0)} B (rewritten on every decision); history keys ${kvHistory.n}, mean ${fmt(kvHistory.mean, 0)} B (written every ~12 transitions)`,
  `lost (no command within ${EVENT_BUDGET_MS} ms): ${lost}; paced sends with no idle session: ${starved}; wall ${fmt((Date.now() - t0) / 1000, 0)} s; load average now ${loadavg().map((l) => l.toFixed(1)).join(' ')} (${cpus().length} cores)`,
];
// What the orchestrator itself warned about (it logs at warn level here): lost leases mean
// partitions changed hands mid-run, which shows up as multi-second latency.
// When (s since the bench started) tells which phase it was: creation, paced rounds, or the closed loop.
const warnings = new Map<string, { n: number; example: string; first: number; last: number }>();
for (const l of orch.lines) {
  const msg = /"msg":"([^"]+)"/.exec(l)?.[1];
  if (!msg || !/"level":"(warn|error|fatal)"/.test(l)) continue;
  const at = (Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? '') - t0) / 1000;
  const w = warnings.get(msg) ?? { n: 0, example: l.replace(/"(time|pid|hostname|service|replicaId|level)":[^,]+,/g, '').slice(0, 240), first: at, last: at };
  w.n++;
  w.last = at;
  warnings.set(msg, w);
}
lines.push(`orchestrator warnings/errors: ${warnings.size ? [...warnings].map(([m, w]) => `${w.n}× ${m} (at ${fmt(w.first, 1)}–${fmt(w.last, 1)} s)`).join('; ') : 'none'}`);
for (const w of warnings.values()) lines.push(`  e.g. ${w.example}`);
for (const l of lines) console.log(l);
// Raw samples for later analysis: [kind, send time (ms since start), latency ms].
mkdirSync(dirname(`${ROOT}${values.out}`), { recursive: true });
writeFileSync(`${ROOT}${values.out.replace(/\.html$/, '')}.samples.json`, JSON.stringify({ orchestrator: orchTimeline, floors: floorLat }));

// ---------------------------------------------------------------- chart
const series: Array<{ name: string; color: string; samples: number[] }> = [
  { name: 'floor: publish → consume', color: '#888888', samples: floorLat.one },
  { name: 'floor: double hop', color: '#1f77b4', samples: floorLat.two },
  { name: 'floor: double hop + KV write', color: '#2ca02c', samples: floorLat.kv },
  { name: 'orchestrator: event → command', color: '#d62728', samples: decided },
];
writeFileSync(`${ROOT}${values.out}`, chartHtml(series, lines));
say(`chart: ${values.out}`);

for (const m of [...floorMsgs, ...cmdMsgs]) await m.close();
await orch.kill('SIGTERM');
await Promise.all([pub.drain(), sub.drain(), hop.drain()]);
await server.stop();
process.exit(0);

/** A CDF per series on a log-x axis, and the printed summary under it. */
function chartHtml(list: typeof series, summary: string[]): string {
  const W = 900;
  const H = 460;
  const m = { l: 60, r: 20, t: 20, b: 50 };
  const every = list.flatMap((s) => s.samples).filter((v) => v > 0);
  const lo = Math.max(0.01, every.reduce((a, b) => Math.min(a, b), Infinity));
  const hi = every.reduce((a, b) => Math.max(a, b), 0);
  const x0 = Math.floor(Math.log10(lo));
  const x1 = Math.ceil(Math.log10(hi));
  const X = (v: number) => m.l + ((Math.log10(Math.max(v, 10 ** x0)) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (q: number) => m.t + (1 - q) * (H - m.t - m.b);
  const grid: string[] = [];
  for (let e = x0; e <= x1; e++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** e;
      if (v < 10 ** x0 || v > 10 ** x1) continue;
      grid.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
      grid.push(`<text x="${X(v)}" y="${H - m.b + 16}" font-size="11" text-anchor="middle">${v >= 1 ? v : v.toFixed(-e)}</text>`);
    }
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    grid.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(q)}" y2="${Y(q)}" stroke="${q === 0.5 || q === 0.99 ? '#ccc' : '#f2f2f2'}"/>`);
    grid.push(`<text x="${m.l - 6}" y="${Y(q) + 4}" font-size="11" text-anchor="end">p${Math.round(q * 100)}</text>`);
  }
  const curves = list.map((s, i) => {
    const sorted = [...s.samples].sort((a, b) => a - b);
    const step = Math.max(1, Math.floor(sorted.length / 600));
    const pts: string[] = [];
    for (let j = 0; j < sorted.length; j += step) pts.push(`${X(sorted[j]!).toFixed(1)},${Y((j + 1) / sorted.length).toFixed(1)}`);
    if (sorted.length) pts.push(`${X(sorted[sorted.length - 1]!).toFixed(1)},${Y(1).toFixed(1)}`);
    return `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>
<rect x="${m.l + 12}" y="${m.t + 10 + i * 18}" width="14" height="4" fill="${s.color}"/><text x="${m.l + 32}" y="${m.t + 16 + i * 18}" font-size="12">${esc(s.name)} (n=${s.samples.length})</text>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>${grid.join('')}
<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>
<text x="${(W + m.l) / 2}" y="${H - 10}" font-size="12" text-anchor="middle">latency, ms (log scale)</text>
${curves.join('\n')}</svg>`;
  return `<!doctype html><meta charset="utf-8"><title>orchestrator decision latency</title>
<body style="font-family:sans-serif;max-width:960px;margin:20px auto">
<h1 style="font-size:18px">Orchestrator decision latency vs the JetStream floor (CDF)</h1>
${svg}
<pre style="font-size:12px">${esc(summary.join('\n'))}</pre>
<p style="font-size:12px;color:#666">node --import tsx bench/orchestrator/run.ts --sessions ${SESSIONS} --events ${EVENTS} --rate ${RATE} --rounds ${ROUNDS} --partitions ${PARTITIONS} --lease-ttl ${LEASE_TTL_MS} · ${new Date().toISOString()}</p>
</body>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
