// bench/load: how many concurrent calls the full pipeline (stt-adapter → orchestrator →
// rag-worker → tts-streamer, each a real service process) sustains on this machine with
// voice-to-voice p95 under 1 s. Synthetic callers stand in for the gateway: they stream real
// speech (flite) as 20 ms frames at real-time pace onto voice.audio.in, take the agent's audio
// off voice.audio.out, and report PLAYBACK_STARTED/DONE like the gateway would.
// voice-to-voice = first agent audio frame received − real end of the caller's speech.
// Floor, measured in the same run: bare JetStream publish→consume round trip.
// Per level: CPU per service (cores, and per call) from /proc/<pid>/stat, and memory: the peak
// resident set of all service processes above their idle size, per call (/proc/<pid>/status).
//   node --import tsx bench/load/run.ts [--levels 1,2,4,8,12] [--turns 3] [--replicas 1] [--stt-workers N]
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { DeliverPolicy } from '@nats-io/jetstream';
import { startNatsServer, spawnNode, type ChildHandle } from '@switchboard/testkit';
import { Bus, provision } from '@switchboard/bus';
import { AudioFrame, AudioSource, STREAMS, decodeAudioFrame, decodeEvent, makeEvent, newSessionId, subjects, type Event } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { synthesizeFixture, silence, concatAudio, speechBoundsByEnergy, type PcmAudio } from '@switchboard/speech';
import { summarize, fmt } from '../stats';

const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: '1,2,4,6,8' },
    turns: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '1' },
    'stt-workers': { type: 'string' },
  },
});
const LEVELS = values.levels!.split(',').map(Number);
const TURNS = Number(values.turns);
const REPLICAS = Number(values.replicas);
const PARTITIONS = 16;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const server = await startNatsServer();
const log = createLogger({ service: 'bench-load', level: 'warn' });
const bus = await Bus.connect({ servers: server.url, service: 'sfu-gateway', log, partitions: PARTITIONS });
await provision(bus.nc, bus.jsm);

// ---- floor: bare JetStream publish → consume round trip on this server ----
async function floorMs(): Promise<number> {
  const c = await bus.js.consumers.get(STREAMS.dlq, { filter_subjects: 'voice.dlq.floor.>', deliver_policy: DeliverPolicy.New });
  const lat: number[] = [];
  let resolve: (() => void) | undefined;
  const msgs = await c.consume({ callback: () => resolve?.() });
  for (let i = 0; i < 300; i++) {
    const got = new Promise<void>((r) => (resolve = r));
    const t = performance.now();
    await bus.js.publish('voice.dlq.floor.x', new Uint8Array(200));
    await got;
    lat.push(performance.now() - t);
  }
  await msgs.close();
  return summarize(lat).p50;
}
const floor = await floorMs();

// ---- services as real processes ----
const env = { ...(values['stt-workers'] ? { STT_WORKERS: values['stt-workers'] } : {}), NATS_URL: server.url, PARTITIONS: String(PARTITIONS), LOG_LEVEL: 'warn', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', GRPC_PORT: '0', FILLER_AFTER_MS: '60000', NO_INPUT_MS: '600000' };
const procs: Array<{ name: string; child: ChildHandle }> = [];
for (const name of ['session-orchestrator', 'rag-worker', 'tts-streamer', 'stt-adapter']) {
  for (let i = 0; i < REPLICAS; i++) {
    const child = spawnNode(`${ROOT}services/${name}/src/main.ts`, { env: { ...env, REPLICA_ID: `${name}-${i}`, LOG_LEVEL: 'info' } });
    procs.push({ name, child });
  }
}
for (const p of procs) await p.child.waitForLine(/ ready"/, 120_000);
await new Promise((r) => setTimeout(r, 1500)); // leases settle

/** Resident set size in MB (VmRSS). */
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
const totalRss = (): number => procs.reduce((a, p) => a + rssMb(p.child.pid), 0);

function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (100 Hz)
  } catch {
    return NaN;
  }
}

// ---- caller audio: "how do I reset my password" etc. with real boundaries ----
const PHRASES = ['how do i reset my password', 'where is my order', 'what are your opening hours', 'i want to return an item'];
const clips: Array<{ audio: PcmAudio; speechEndMs: number }> = [];
for (const text of PHRASES) {
  const speech = await synthesizeFixture(text, 'flite:slt');
  const audio = concatAudio(silence(400), speech, silence(1200));
  const b = speechBoundsByEnergy(audio.samples, audio.sampleRate);
  clips.push({ audio, speechEndMs: b ? b.endMs : 400 + (speech.samples.length / 16)});
}

interface TurnResult { v2v: number; ok: boolean; sessionId: string; turn: number; speechEndAt: number }

/** Every message of `stream` on `filter`, oldest first (an ordered read, stops when caught up). */
async function readAll(stream: string, filter: string): Promise<Array<{ time: number; subject: string; body: Record<string, unknown> }>> {
  const c = await bus.js.consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.All });
  const out: Array<{ time: number; subject: string; body: Record<string, unknown> }> = [];
  if ((await c.info(true)).num_pending === 0) return out;
  const it = await c.consume({ max_messages: 256, expires: 1_000 });
  for await (const m of it) {
    let body: Record<string, unknown> = {};
    try {
      body = m.json<Record<string, unknown>>();
    } catch {
      // not JSON
    }
    out.push({ time: m.info.timestampNanos / 1e6, subject: m.subject, body });
    if (m.info.pending === 0) break;
  }
  await it.close();
  return out;
}

/**
 * Where an unanswered turn went: the session's events and commands as stored (stream time) and
 * every service log line naming it, in one file per session (bench/out/load-lost-<id>.txt).
 */
async function traceSession(sessionId: string, lost: TurnResult[]): Promise<string> {
  const rows: Array<{ time: number; line: string }> = [];
  const short = (b: Record<string, unknown>): string => {
    const { sessionId: _s, source: _src, metadata: _m, timestamp: _t, ...rest } = b;
    return JSON.stringify(rest).slice(0, 400);
  };
  for (const e of await readAll(STREAMS.events, `voice.evt.*.${sessionId}.>`)) rows.push({ time: e.time, line: `EVT ${e.subject.split('.').at(-1)} ${short(e.body)}` });
  for (const [target, stream] of Object.entries(STREAMS.cmd)) {
    for (const c of await readAll(stream, subjects.commandsOfSession(target as keyof typeof STREAMS.cmd, sessionId))) rows.push({ time: c.time, line: `CMD ${c.subject.split('.').at(-1)} ${short(c.body)}` });
  }
  for (const p of procs) {
    for (const l of p.child.lines) {
      if (!l.includes(sessionId)) continue;
      try {
        const j = JSON.parse(l) as { time?: number; msg?: string };
        rows.push({ time: j.time ?? 0, line: `LOG ${p.name} ${l.slice(0, 500)}` });
      } catch {
        rows.push({ time: 0, line: `LOG ${p.name} ${l.slice(0, 500)}` });
      }
    }
  }
  rows.sort((a, b) => a.time - b.time);
  const head = lost.map((t) => `unanswered: turn ${t.turn}, caller's speech ended at ${new Date(t.speechEndAt).toISOString()}`).join('\n');
  const file = `${ROOT}bench/out/load-lost-${sessionId}.txt`;
  mkdirSync(`${ROOT}bench/out`, { recursive: true });
  writeFileSync(file, `${head}\n${rows.map((r) => `${new Date(r.time).toISOString()} ${r.line}`).join('\n')}\n`);
  return file;
}
const stageSamples: Record<string, number[]> = {};
function orchestratorUrl(): string {
  const orch = procs.find((p) => p.name === 'session-orchestrator')!;
  const line = orch.child.lines.find((l) => l.includes('session-orchestrator ready'))!;
  return `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
}

async function runCaller(sessionId: string, turns: number, results: TurnResult[]): Promise<void> {
  const out = await bus.js.consumers.get(STREAMS.audioOut, { filter_subjects: subjects.audioOut(sessionId), deliver_policy: DeliverPolicy.New });
  const evts = await bus.js.consumers.get(STREAMS.events, { filter_subjects: `voice.evt.*.${sessionId}.>`, deliver_policy: DeliverPolicy.New });
  // agent utterances by speak id: when their first and last frames arrived
  const utterances = new Map<string, { turnId: string; first: number; frames: number; last: boolean }>();
  const outMsgs = await out.consume({
    callback: (m) => {
      const f = decodeAudioFrame(m.data);
      if (f.kind !== 'SPEAK_KIND_ANSWER' && f.kind !== 'SPEAK_KIND_PROMPT') return;
      let u = utterances.get(f.speakId);
      if (!u) utterances.set(f.speakId, (u = { turnId: f.turnId, first: performance.now(), frames: 0, last: false }));
      u.frames++;
      if (f.last) u.last = true;
    },
  });
  const seen: Event[] = [];
  const evMsgs = await evts.consume({ callback: (m) => void seen.push(decodeEvent(m.data)) });
  let seq = 0;
  let audioMs = 0;
  const sendFrame = (pcm: Int16Array) => {
    bus.publishAudioIn(AudioFrame.fromPartial({ sessionId, seq: seq++, audioMs, sampleRate: 16000, pcm: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), source: AudioSource.AUDIO_SOURCE_TEST, capturedAt: Date.now() }));
    audioMs += 20;
  };
  await bus.publishEvent(makeEvent('CALL_STARTED', { sessionId, source: 'sfu-gateway', eventId: `start:${sessionId}` }, { audioSource: AudioSource.AUDIO_SOURCE_TEST }));
  const t0 = performance.now();
  let tick = 0;
  const clock = async (pcm: Int16Array) => {
    // self-correcting 20 ms clock
    tick++;
    const due = t0 + tick * 20;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sendFrame(pcm);
  };
  const zero = new Int16Array(320);
  for (let i = 0; i < 25; i++) await clock(zero); // 0.5 s of room tone before the first turn
  for (let t = 0; t < turns; t++) {
    const clip = clips[(t + seq) % clips.length]!;
    const before = new Set(utterances.keys());
    let speechEndWall = 0;
    let speechEndAt = 0;
    for (let i = 0; i + 320 <= clip.audio.samples.length; i += 320) {
      await clock(clip.audio.samples.subarray(i, i + 320));
      if (!speechEndWall && i / 16 >= clip.speechEndMs) {
        speechEndWall = performance.now();
        speechEndAt = Date.now();
      }
    }
    // keep the mic stream going (silence) while the agent answers; the reply is a new utterance
    const fresh = () => [...utterances.entries()].find(([id]) => !before.has(id));
    let waited = 0;
    while (!fresh() && waited < 10_000) {
      await clock(zero);
      waited += 20;
    }
    const reply = fresh();
    results.push({ v2v: reply ? reply[1].first - speechEndWall : NaN, ok: Boolean(reply), sessionId, turn: t, speechEndAt });
    if (reply) {
      const [speakId, u] = reply;
      // report playback like the gateway: started at the first frame, done after the last
      await bus.publishEvent(makeEvent('PLAYBACK_STARTED', { sessionId, source: 'sfu-gateway', eventId: `ps:${speakId}`, correlationId: u.turnId }, { turnId: u.turnId, speakId }));
      while (!u.last && waited < 60_000) {
        await clock(zero);
        waited += 20;
      }
      await bus.publishEvent(makeEvent('PLAYBACK_DONE', { sessionId, source: 'sfu-gateway', eventId: `pd:${speakId}`, correlationId: u.turnId }, { turnId: u.turnId, speakId, durationMs: u.frames * 20 }));
    }
    for (let i = 0; i < 30; i++) await clock(zero); // a pause before the next question
  }
  if (process.env['BENCH_DEBUG']) console.log(seen.map((e) => `${e.eventType}${e.sttFinal ? `(${e.sttFinal.text})` : ''}${e.speechStarted ? `(@${e.speechStarted.audioMs})` : ''}${e.speechEnded ? `(@${e.speechEnded.audioMs})` : ''}${e.ragAnswerReady ? `(${e.ragAnswerReady.text.slice(0, 40)})` : ''}`).join('\n'));
  // where the time went, per stage, from the orchestrator's latency record of this call
  try {
    const lat = (await (await fetch(`${orchestratorUrl()}/latency/${sessionId}`)).json()) as { stages: Array<{ stage: string; count: number; p50Ms: number }> };
    for (const st of lat.stages) (stageSamples[st.stage] ??= []).push(st.p50Ms);
  } catch {
    // orchestrator not reachable: stages are optional
  }
  await bus.publishEvent(makeEvent('CALL_ENDED', { sessionId, source: 'sfu-gateway', eventId: `end:${sessionId}` }, { reason: 'hangup' }));
  await outMsgs.close();
  await evMsgs.close();
}

const rows: Array<{ n: number; p50: number; p95: number; ok: number; total: number; cpu: Record<string, number> }> = [];
for (const n of LEVELS) {
  const cpu0 = new Map(procs.map((p) => [p.child.pid, cpuSeconds(p.child.pid)]));
  const rss0 = totalRss();
  let rssPeak = rss0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, totalRss())), 500);
  const w0 = performance.now();
  const results: TurnResult[] = [];
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * 137)); // stagger
    await runCaller(newSessionId(), TURNS, results);
  }));
  const wall = (performance.now() - w0) / 1000;
  clearInterval(sampler);
  const cpu: Record<string, number> = {};
  for (const p of procs) cpu[p.name] = (cpu[p.name] ?? 0) + (cpuSeconds(p.child.pid) - cpu0.get(p.child.pid)!) / wall;
  const okOnes = results.filter((r) => r.ok).map((r) => r.v2v);
  const lostBySession = new Map<string, TurnResult[]>();
  for (const r of results) if (!r.ok) lostBySession.set(r.sessionId, [...(lostBySession.get(r.sessionId) ?? []), r]);
  for (const [sid, lost] of lostBySession) console.log(`           unanswered within 10 s: ${sid} turn ${lost.map((t) => t.turn).join(',')} — trace in ${await traceSession(sid, lost)}`);
  const stages = Object.entries(stageSamples).map(([k, v]) => `${k} ${fmt(summarize(v).p50, 0)}`).join(', ');
  for (const k of Object.keys(stageSamples)) delete stageSamples[k];
  const s = summarize(okOnes);
  rows.push({ n, p50: s.p50, p95: s.p95, ok: okOnes.length, total: results.length, cpu });
  console.log(
    `calls ${String(n).padStart(3)}: voice-to-voice p50 ${fmt(s.p50, 0)} ms p95 ${fmt(s.p95, 0)} ms, turns ok ${okOnes.length}/${results.length}, CPU (cores) ${Object.entries(cpu).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}` +
      `\n           CPU per call (cores): ${Object.entries(cpu).map(([k, v]) => `${k} ${fmt(v / n, 3)}`).join(', ')}; memory: services ${fmt(rss0, 0)} MB idle, peak +${fmt(rssPeak - rss0, 0)} MB = ${fmt((rssPeak - rss0) / n, 1)} MB per call` +
      `\n           stage p50 ms (orchestrator clock): ${stages}`,
  );
  if (s.p95 > 1000 || okOnes.length < results.length) break;
}
const sustained = rows.filter((r) => r.p95 <= 1000 && r.ok === r.total).at(-1);
const last = rows.at(-1)!;
const hottest = Object.entries(last.cpu).sort((a, b) => b[1] - a[1])[0];
console.log(`\nbench/load — full pipeline on ${REPLICAS} replica(s) per service, ${TURNS} turns per call; JetStream floor p50 ${fmt(floor)} ms`);
console.log(`sustained with voice-to-voice p95 < 1 s: ${sustained ? `${sustained.n} concurrent calls (p95 ${fmt(sustained.p95, 0)} ms = ${fmt(sustained.p95 / floor, 0)}× the bus floor)` : 'none'}`);
console.log(`saturates first: ${hottest?.[0]} at ${fmt(hottest?.[1] ?? NaN, 2)} cores with ${last.n} calls (voice-to-voice includes the VAD end-of-speech hangover)`);
mkdirSync(`${ROOT}bench/out`, { recursive: true });
writeFileSync(`${ROOT}bench/out/load.json`, JSON.stringify({ floor, rows }, null, 2));
for (const p of procs) await p.child.kill('SIGTERM');
await bus.drain();
await server.stop();
process.exit(0);
