// The call page script (web/index.html loads it as /call.js; the gateway bundles it with esbuild at
// start; it lives under src/ so the root tsconfig typechecks and lints it). One WebSocket to /ws for
// signaling, mediasoup-client for the media, no framework. Roles:
//   caller      — microphone up, agent audio down; the token in ?token= is a caller token
//   supervisor  — listens to the caller and the agent of one live session (?token= names it)
// Everything the page shows comes from the gateway's pushes: the orchestrator's session updates
// (state, transcript, per-turn latency marks) and playback start/done. Text is set with
// textContent only (transcripts are untrusted and may be any script, e.g. Telugu).
// Test hooks live on `window.sb` (state history, transcript, levels, waterfall rows).
import { Device } from 'mediasoup-client';
import type { types as mc } from 'mediasoup-client';
import type { ServerMessage, SessionUpdateView } from '../signaling/protocol';
import { levelWindows } from './levels';

type Source = 'mic' | 'agent' | 'caller';

interface TranscriptEntry {
  role: 'caller' | 'agent';
  final: boolean;
  text: string;
  at: number;
}

interface TurnRow {
  /** Server-clock marks (epoch ms) from the orchestrator. */
  marks: Record<string, number | undefined>;
  /** Page-measured: first agent audio above the threshold after playback started (server clock). */
  heard?: number;
}

interface PlaybackRecord {
  turnId: string;
  speakId: string;
  kind: string;
  /** server clock */
  startedAt: number;
  /** page clock: first agent level above threshold after the start push */
  heardAt?: number;
  doneAt?: number;
  durationMs?: number;
  interrupted?: boolean;
}

interface SbHooks {
  role: string;
  sessionId: string;
  status: 'ready' | 'connecting' | 'in-call' | 'ended';
  endedReason: string;
  error: { code: string; message: string } | undefined;
  /** Distinct agent states as shown, in order, with page time. */
  states: { state: string; at: number }[];
  transcript: TranscriptEntry[];
  turns: TurnRow[];
  playbacks: PlaybackRecord[];
  updates: number;
  /** server epoch − page epoch (ms), from ping round trips. */
  clockOffsetMs: number;
  epochNow(): number;
  /** Current RMS (0..1) of a source, its latest level window (up to one 40 ms read old). */
  level(source: Source): number;
  /** [pageEpochMs, rms, …] samples (one per 512-sample window, ~10.7 ms, on the audio clock) since `fromEpochMs`. */
  levelsSince(source: Source, fromEpochMs: number): number[];
  call(): Promise<void>;
  hangup(): void;
  /** Supervisor only: whether this page whispers to the agent side (never heard by the caller). */
  whisper: 'off' | 'starting' | 'on';
  setWhisper(on: boolean): Promise<void>;
  /** Inbound audio per source (jitter buffer, concealment): diagnostics for tests and benches. */
  recvStats(): Promise<RecvStats[]>;
}

interface RecvStats {
  source: string;
  packetsReceived: number;
  packetsLost: number;
  jitterMs: number;
  /** Cumulative: seconds of audio × time in the jitter buffer, and samples emitted. */
  jitterBufferDelay: number;
  jitterBufferTargetDelay: number;
  jitterBufferEmittedCount: number;
  concealedSamples: number;
}

declare global {
  interface Window {
    sb: SbHooks;
  }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const epochNow = (): number => performance.timeOrigin + performance.now();
const params = new URLSearchParams(location.search);
const token = params.get('token') ?? '';
const alias = params.get('alias') ?? undefined;
/** ?rawmic=1: no echo cancellation / noise suppression / AGC (tests compare against a WAV). */
const rawMic = params.get('rawmic') === '1';
const HEARD_RMS = 0.02;
const LEVEL_KEEP = 30_000; // samples per source (~5 min at 10 ms)

const sb: SbHooks = {
  role: '',
  sessionId: '',
  status: 'ready',
  endedReason: '',
  error: undefined,
  states: [{ state: 'IDLE', at: epochNow() }],
  transcript: [],
  turns: [],
  playbacks: [],
  updates: 0,
  clockOffsetMs: 0,
  epochNow,
  level: (source) => meters.get(source)?.current ?? 0,
  levelsSince(source, fromEpochMs) {
    const buf = meters.get(source)?.samples ?? [];
    let i = buf.length - 2;
    while (i >= 0 && buf[i]! >= fromEpochMs) i -= 2;
    return buf.slice(i + 2);
  },
  call: () => startCall(),
  hangup: () => hangup(),
  whisper: 'off',
  setWhisper: (on) => setWhisper(on),
  recvStats: () => recvStats(),
};
window.sb = sb;

// ------------------------------------------------------------------ UI helpers
const callBtn = $<HTMLButtonElement>('callBtn');
const whisperBtn = $<HTMLButtonElement>('whisperBtn');
const statusEl = $<HTMLParagraphElement>('status');
const transcriptEl = $<HTMLUListElement>('transcript');
const waterfallEl = $<HTMLDivElement>('waterfall');

function setStatus(text: string, isError = false): void {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', isError);
}

function showState(state: string): void {
  const last = sb.states[sb.states.length - 1];
  if (last?.state !== state) sb.states.push({ state, at: epochNow() });
  for (const li of Array.from(document.querySelectorAll<HTMLLIElement>('#states li'))) li.classList.toggle('on', li.dataset['state'] === state);
}
showState('IDLE');

let partialEl: HTMLLIElement | undefined;

function addTranscript(entry: TranscriptEntry): void {
  sb.transcript.push(entry);
  let li: HTMLLIElement;
  if (entry.role === 'caller' && partialEl) {
    li = partialEl; // a partial is replaced by the next partial, then by the final
  } else {
    li = document.createElement('li');
    transcriptEl.appendChild(li);
  }
  li.className = `${entry.role}${entry.final ? '' : ' partial'}`;
  li.replaceChildren();
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = entry.role === 'caller' ? 'Caller' : 'Agent';
  li.append(who, document.createTextNode(entry.text));
  partialEl = entry.role === 'caller' && !entry.final ? li : undefined;
  transcriptEl.scrollTop = transcriptEl.scrollHeight;
}

const STAGES: [string, string, string][] = [
  ['stt', 'speechEnded', 'final'],
  ['rag', 'final', 'answer'],
  ['tts', 'answer', 'ttsStarted'],
  ['playout', 'ttsStarted', 'playbackStarted'],
  ['heard', 'playbackStarted', 'heard'],
];

function renderWaterfall(): void {
  waterfallEl.replaceChildren();
  const rows = sb.turns.slice(-8);
  const spans = rows.map((r) => {
    const m: Record<string, number | undefined> = { ...r.marks, heard: r.heard };
    const start = m['speechEnded'] ?? m['final'] ?? 0;
    const end = m['heard'] ?? m['playbackStarted'] ?? start;
    return { m, start, total: end - start };
  });
  const scale = Math.max(500, ...spans.map((s) => s.total));
  spans.forEach(({ m, start, total }, i) => {
    const row = document.createElement('div');
    row.className = 'wf-row';
    const label = document.createElement('span');
    label.textContent = `turn ${sb.turns.length - rows.length + i + 1}`;
    const track = document.createElement('div');
    track.className = 'wf-track';
    for (const [name, from, to] of STAGES) {
      const a = m[from];
      const b = m[to];
      if (a === undefined || b === undefined || b < a) continue;
      const bar = document.createElement('div');
      bar.className = name;
      bar.style.left = `${((a - start) / scale) * 100}%`;
      bar.style.width = `${((b - a) / scale) * 100}%`;
      bar.title = `${name}: ${Math.round(b - a)} ms`;
      track.appendChild(bar);
    }
    const tot = document.createElement('span');
    tot.className = 'wf-total';
    tot.textContent = `${Math.round(total)} ms`;
    row.append(label, track, tot);
    waterfallEl.appendChild(row);
  });
}

// ------------------------------------------------------------------ audio levels
// Levels: RMS over 512-sample windows (~10.7 ms at 48 kHz) on the audio clock. Every 40 ms the page
// reads each AnalyserNode's last 4096 samples (~85 ms) and adds the windows it has not seen yet,
// each stamped with the audio time its last sample was rendered. Before, a 10 ms timer read one
// window per tick and stamped it with the tick's time: a busy renderer fires timers late (the
// level then reads late, and windows in between were never seen), and 100 wakeups plus meter-bar
// writes a second per page cost the callers' pages 16 % of a core at 6 calls (bench/e2e).
const WINDOW = 512;
const HISTORY = 4096;
const POLL_MS = 40;
interface Meter {
  analyser: AnalyserNode;
  buf: Float32Array<ArrayBuffer>;
  /** Audio frame index (context sample clock) up to which windows were taken. */
  doneFrame: number;
  samples: number[];
  current: number;
  bar?: HTMLElement;
}
const meters = new Map<Source, Meter>();
let audioCtx: AudioContext | undefined;
let meterTimer: ReturnType<typeof setInterval> | undefined;

function ensureAudioContext(): AudioContext {
  audioCtx ??= new AudioContext({ sampleRate: 48000 });
  void audioCtx.resume().catch(() => undefined);
  meterTimer ??= setInterval(sampleLevels, POLL_MS);
  return audioCtx;
}

function sampleLevels(): void {
  const ctx = audioCtx;
  if (!ctx) return;
  // The analysers hold the samples up to the context's current time: the newest one is "now".
  const nowEpoch = epochNow();
  const rate = ctx.sampleRate;
  const endFrame = Math.round(ctx.currentTime * rate);
  for (const [source, m] of meters) {
    m.analyser.getFloatTimeDomainData(m.buf);
    const { windows, doneFrame } = levelWindows(m.buf, endFrame, m.doneFrame, WINDOW);
    m.doneFrame = doneFrame;
    for (const { endFrame: end, rms } of windows) {
      const at = nowEpoch - ((endFrame - end) / rate) * 1000;
      m.current = rms;
      m.samples.push(at, rms);
      if (source === 'agent' && rms > HEARD_RMS) markHeard(at);
    }
    if (m.samples.length > LEVEL_KEEP * 2) m.samples.splice(0, m.samples.length - LEVEL_KEEP * 2);
    if (m.bar) m.bar.style.width = `${Math.min(100, Math.round(Math.sqrt(m.current) * 220))}%`;
  }
}

function meter(source: Source, track: MediaStreamTrack, bar?: HTMLElement): void {
  const ctx = ensureAudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = HISTORY;
  ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  // Windows from before the meter existed would be the analyser's initial silence.
  const doneFrame = Math.round(ctx.currentTime * ctx.sampleRate);
  meters.set(source, { analyser, buf: new Float32Array(HISTORY), doneFrame, samples: [], current: 0, ...(bar ? { bar } : {}) });
}

/** Remote audio must play through an element (or Chromium never decodes it for WebAudio). */
function play(track: MediaStreamTrack): HTMLAudioElement {
  const el = document.createElement('audio');
  el.srcObject = new MediaStream([track]);
  el.autoplay = true;
  document.body.appendChild(el);
  void el.play().catch(() => undefined);
  return el;
}

function markHeard(now: number): void {
  for (let i = sb.playbacks.length - 1; i >= 0; i--) {
    const p = sb.playbacks[i]!;
    if (p.heardAt !== undefined || p.doneAt !== undefined) break;
    if (p.startedAt - sb.clockOffsetMs <= now) {
      p.heardAt = now;
      attachHeard(p);
    }
  }
}

/** Put the page-measured "heard" time on the turn whose first audio this was (server clock). */
function attachHeard(p: PlaybackRecord): void {
  if (p.heardAt === undefined) return;
  for (let i = sb.turns.length - 1; i >= 0; i--) {
    const t = sb.turns[i]!;
    const started = t.marks['playbackStarted'];
    if (started !== undefined && Math.abs(started - p.startedAt) < 250 && t.heard === undefined) {
      t.heard = p.heardAt + sb.clockOffsetMs;
      renderWaterfall();
      return;
    }
  }
}

// ------------------------------------------------------------------ signaling
let ws: WebSocket | undefined;
let nextId = 1;
const pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
const closers: (() => void)[] = [];
let joinedResolve: ((m: Extract<ServerMessage, { type: 'joined' }>) => void) | undefined;
let bestRtt = Infinity;

function wsSend(msg: unknown): void {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function request<T>(method: string, data: unknown): Promise<T> {
  const id = nextId++;
  return new Promise<T>((ok, fail) => {
    pending.set(id, { ok: ok as (v: unknown) => void, fail });
    wsSend({ type: 'request', id, method, data });
  });
}

function onServerMessage(msg: ServerMessage): void {
  switch (msg.type) {
    case 'joined':
      joinedResolve?.(msg);
      return;
    case 'response': {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (!p) return;
      if (msg.ok) p.ok(msg.data);
      else p.fail(new Error(`${msg.error.code}: ${msg.error.message}`));
      return;
    }
    case 'pong': {
      if (msg.t === undefined) return;
      const now = epochNow();
      const rtt = now - msg.t;
      if (rtt < bestRtt) {
        bestRtt = rtt;
        sb.clockOffsetMs = msg.serverTime - (msg.t + now) / 2;
      }
      return;
    }
    case 'update':
      onUpdate(msg.update);
      return;
    case 'playback':
      onPlayback(msg);
      return;
    case 'ended':
      finish(msg.reason);
      return;
    case 'error':
      sb.error = { code: msg.code, message: msg.message };
      setStatus(`Error ${msg.code}: ${msg.message}`, true);
      return;
  }
}

function onUpdate(u: SessionUpdateView): void {
  sb.updates++;
  for (const t of u.transitions ?? []) if (!t.rejected) showState(t.to);
  if (u.state && u.state !== 'ENDED') showState(u.state);
  if (u.text) addTranscript({ role: u.text.role, final: u.text.final, text: u.text.text, at: epochNow() });
  if (u.latency) {
    const key = u.latency['final'];
    if (!sb.turns.some((t) => t.marks['final'] === key)) {
      const row: TurnRow = { marks: u.latency };
      sb.turns.push(row);
      // The first audio may have been heard before this record arrived.
      for (const p of sb.playbacks) if (p.heardAt !== undefined) attachHeard(p);
      renderWaterfall();
    }
  }
}

function onPlayback(msg: Extract<ServerMessage, { type: 'playback' }>): void {
  if (msg.event === 'started') {
    sb.playbacks.push({ turnId: msg.turnId, speakId: msg.speakId, kind: msg.kind, startedAt: msg.serverTime });
    return;
  }
  for (const p of sb.playbacks) {
    if ((msg.speakId && p.speakId === msg.speakId) || (!msg.speakId && p.turnId === msg.turnId && p.doneAt === undefined)) {
      p.doneAt = msg.serverTime;
      if (msg.durationMs !== undefined) p.durationMs = msg.durationMs;
      p.interrupted = msg.interrupted ?? false;
    }
  }
}

function finish(reason: string): void {
  if (sb.status === 'ended') return;
  sb.status = 'ended';
  sb.endedReason = reason;
  for (const c of closers.splice(0)) c();
  for (const p of pending.values()) p.fail(new Error(`call ended: ${reason}`));
  pending.clear();
  setStatus(`Call ended (${reason}).`, reason.startsWith('signaling_error') || sb.error !== undefined);
  callBtn.textContent = sb.role === 'supervisor' ? 'Listen in' : 'Call';
  callBtn.classList.remove('hangup');
  callBtn.disabled = false;
  whisperBtn.hidden = true;
  whisperProducer = undefined;
  sb.whisper = 'off';
  ws?.close();
  ws = undefined;
}

function connect(): Promise<Extract<ServerMessage, { type: 'joined' }>> {
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  const socket = new WebSocket(url);
  ws = socket;
  return new Promise((resolve, reject) => {
    joinedResolve = resolve;
    socket.onopen = () => {
      wsSend({ type: 'join', token, ...(alias ? { alias } : {}) });
      for (let i = 0; i < 5; i++) setTimeout(() => wsSend({ type: 'ping', t: epochNow() }), i * 200);
    };
    socket.onmessage = (e: MessageEvent<string>) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(e.data) as ServerMessage;
      } catch {
        return;
      }
      if (msg.type === 'error' && !sb.sessionId) reject(new Error(`${msg.code}: ${msg.message}`));
      onServerMessage(msg);
    };
    socket.onclose = (e) => {
      reject(new Error(`signaling closed (${e.code} ${e.reason})`));
      if (sb.status !== 'ended' && sb.status !== 'ready') finish(e.reason || `connection closed (${e.code})`);
    };
  });
}

// ------------------------------------------------------------------ call
async function startCall(): Promise<void> {
  if (sb.status === 'connecting' || sb.status === 'in-call') return;
  if (!token) {
    setStatus('This link has no token: ask for a call link.', true);
    return;
  }
  sb.status = 'connecting';
  sb.error = undefined;
  sb.endedReason = '';
  callBtn.disabled = true;
  setStatus('Connecting…');
  ensureAudioContext();
  try {
    const joined = await connect();
    sb.role = joined.role;
    sb.sessionId = joined.sessionId;
    $('role').textContent = joined.role;
    $('session').textContent = joined.sessionId;
    device = new Device();
    await device.load({ routerRtpCapabilities: joined.routerRtpCapabilities as mc.RtpCapabilities });

    // Receive first, so the agent's first words are not sent before we listen.
    const recvOpts = await request<mc.TransportOptions>('createTransport', { direction: 'recv' });
    const recv = device.createRecvTransport(recvOpts);
    recv.on('connect', ({ dtlsParameters }, ok, fail) => {
      request('connectTransport', { transportId: recv.id, dtlsParameters }).then(() => ok(), fail);
    });
    closers.push(() => recv.close());

    await consumeAll(device, recv);
    // The caller's microphone; a supervisor's only when it whispers (setWhisper).
    if (joined.role === 'caller') await produceMic(device);
    else whisperBtn.hidden = false;
    sb.status = 'in-call';
    callBtn.textContent = 'Hang up';
    callBtn.classList.add('hangup');
    callBtn.disabled = false;
    setStatus(joined.role === 'caller' ? 'In call — speak any time.' : 'Listening in.');
  } catch (err) {
    const message = (err as Error).message;
    // The status may have moved on while we awaited (an `ended` push); read it fresh.
    const error = sb.error as { code: string; message: string } | undefined;
    if ((sb.status as SbHooks['status']) !== 'ended') finish(error ? `signaling_error:${error.code}` : 'failed');
    setStatus(`Could not start: ${error ? `${error.code}: ${error.message}` : message}`, true);
  }
}

// ------------------------------------------------------------------ supervisor whisper
// A supervisor's microphone goes to the agent side only: the gateway taps it like the caller's mic
// and never offers it to the caller. The producer is made on the first press and paused/resumed
// after (a paused track sends silence; the gateway accepts one producer per peer).
let device: Device | undefined;
let whisperProducer: mc.Producer | undefined;

async function setWhisper(on: boolean): Promise<void> {
  if (sb.role !== 'supervisor' || sb.status !== 'in-call' || !device) throw new Error('whisper needs a supervisor in a call');
  if (!on) {
    whisperProducer?.pause();
    if (whisperProducer) sb.whisper = 'off';
  } else if (whisperProducer) {
    whisperProducer.resume();
    sb.whisper = 'on';
  } else if (sb.whisper === 'off') {
    sb.whisper = 'starting';
    try {
      whisperProducer = await produceMic(device);
      sb.whisper = 'on';
    } catch (err) {
      sb.whisper = 'off';
      setStatus(`Whisper failed: ${(err as Error).message}`, true);
      throw err;
    }
  }
  whisperBtn.textContent = sb.whisper === 'on' ? 'Stop whispering' : 'Whisper to agent';
  whisperBtn.classList.toggle('on', sb.whisper === 'on');
  setStatus(sb.whisper === 'on' ? 'Listening in — whispering to the agent (the caller does not hear you).' : 'Listening in.');
}

/** The local microphone as this page's one producer (the caller's voice, or a supervisor's whisper). */
async function produceMic(dev: Device): Promise<mc.Producer> {
  const send = dev.createSendTransport(await request<mc.TransportOptions>('createTransport', { direction: 'send' }));
  send.on('connect', ({ dtlsParameters }, ok, fail) => {
    request('connectTransport', { transportId: send.id, dtlsParameters }).then(() => ok(), fail);
  });
  send.on('produce', ({ kind, rtpParameters }, ok, fail) => {
    request<{ id: string }>('produce', { transportId: send.id, kind, rtpParameters }).then(ok, fail);
  });
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: rawMic ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 } : { echoCancellation: true, channelCount: 1 },
  });
  const track = stream.getAudioTracks()[0];
  if (!track) throw new Error('no microphone track');
  meter('mic', track, $('micLevel'));
  closers.push(() => {
    track.stop();
    send.close();
  });
  return send.produce({ track, stopTracks: false });
}

// ------------------------------------------------------------------ receive stats
const receivers: { source: string; consumer: mc.Consumer }[] = [];

async function recvStats(): Promise<RecvStats[]> {
  const out: RecvStats[] = [];
  for (const { source, consumer } of receivers) {
    const report = await consumer.getStats();
    report.forEach((st: Record<string, unknown>) => {
      if (st['type'] !== 'inbound-rtp') return;
      const n = (k: string): number => Number(st[k] ?? 0);
      out.push({
        source,
        packetsReceived: n('packetsReceived'),
        packetsLost: n('packetsLost'),
        jitterMs: n('jitter') * 1000,
        jitterBufferDelay: n('jitterBufferDelay'),
        jitterBufferTargetDelay: n('jitterBufferTargetDelay'),
        jitterBufferEmittedCount: n('jitterBufferEmittedCount'),
        concealedSamples: n('concealedSamples'),
      });
    });
  }
  return out;
}

async function consumeAll(device: Device, recv: mc.Transport): Promise<void> {
  const list = await request<{ id: string; producerId: string; kind: 'audio'; rtpParameters: mc.RtpParameters; source: 'agent' | 'caller' }[]>('consume', {
    transportId: recv.id,
    rtpCapabilities: device.recvRtpCapabilities,
  });
  for (const c of list) {
    const consumer = await recv.consume({ id: c.id, producerId: c.producerId, kind: c.kind, rtpParameters: c.rtpParameters });
    receivers.push({ source: c.source, consumer });
    const el = play(consumer.track);
    meter(c.source, consumer.track, c.source === 'agent' ? $('agentLevel') : undefined);
    closers.push(() => {
      el.srcObject = null;
      el.remove();
      meters.delete(c.source);
      receivers.splice(0);
    });
  }
}

function hangup(): void {
  if (sb.status !== 'in-call' && sb.status !== 'connecting') return;
  wsSend({ type: 'hangup' });
  setStatus('Hanging up…');
  // The gateway answers with `ended`; if it does not within 2 s, end locally.
  setTimeout(() => finish('hangup'), 2000);
}

callBtn.textContent = params.get('role') === 'supervisor' ? 'Listen in' : 'Call';
callBtn.addEventListener('click', () => {
  if (sb.status === 'in-call' || sb.status === 'connecting') hangup();
  else void startCall();
});
whisperBtn.addEventListener('click', () => {
  setWhisper(sb.whisper !== 'on').catch(() => undefined);
});
window.addEventListener('beforeunload', () => wsSend({ type: 'hangup' }));
