// What the bus saw of the calls, on this process's clock (the same machine's clock as every
// service): caller frames as the gateway published them (with their level), every session event and
// every gateway command with its sender's timestamp and its arrival here. The e2e tests and the
// bench use it to break a barge-in or a turn into its hops:
//   onset in the page → first loud caller frame at the gateway → SPEECH_STARTED → PLAYBACK_FLUSH → …
// Core subscriptions (no consumers), bounded: the oldest records go first.
import type { Bus } from '@switchboard/bus';
import { CommandType, EventType, decodeAudioFrame, decodeCommand, decodeEvent, pcmSamples, type Command, type Event } from '@switchboard/contracts';

export interface TracedFrame {
  audioMs: number;
  /** Gateway's publish time (AudioFrame.capturedAt). */
  capturedAt: number;
  /** Frame RMS, full scale 1.0. */
  rms: number;
  /** The frame's PCM, with `startBusTrace(bus, { keepPcm: true })`. */
  pcm?: Int16Array;
}

export interface TracedEvent {
  type: string;
  /** Sender's timestamp. */
  at: number;
  arrivedAt: number;
  event: Event;
}

export interface TracedCommand {
  type: string;
  at: number;
  arrivedAt: number;
  command: Command;
}

export interface BusTrace {
  frames(sessionId: string): TracedFrame[];
  events(sessionId: string): TracedEvent[];
  commands(sessionId: string): TracedCommand[];
  stop(): void;
}

const MAX_FRAMES = 50 * 600; // 10 min of one call's audio, per session
const MAX_RECORDS = 10_000;

function push<T>(map: Map<string, T[]>, key: string, v: T, max: number): void {
  let a = map.get(key);
  if (!a) map.set(key, (a = []));
  a.push(v);
  if (a.length > max) a.splice(0, a.length - max);
}

export function startBusTrace(bus: Bus, opts: { keepPcm?: boolean } = {}): BusTrace {
  const frames = new Map<string, TracedFrame[]>();
  const events = new Map<string, TracedEvent[]>();
  const commands = new Map<string, TracedCommand[]>();
  const subs = [
    bus.nc.subscribe('voice.audio.in.>', {
      callback: (err, m) => {
        if (err) return;
        const f = decodeAudioFrame(m.data);
        const pcm = pcmSamples(f);
        let s = 0;
        for (let i = 0; i < pcm.length; i++) s += pcm[i]! * pcm[i]!;
        const rms = Math.sqrt(s / Math.max(1, pcm.length)) / 32768;
        push(frames, f.sessionId, { audioMs: f.audioMs, capturedAt: f.capturedAt, rms, ...(opts.keepPcm ? { pcm: pcm.slice() } : {}) }, MAX_FRAMES);
      },
    }),
    bus.nc.subscribe('voice.evt.>', {
      callback: (err, m) => {
        if (err) return;
        const arrivedAt = Date.now();
        const e = decodeEvent(m.data);
        push(events, e.sessionId, { type: EventType[e.eventType] ?? String(e.eventType), at: e.timestamp, arrivedAt, event: e }, MAX_RECORDS);
      },
    }),
    bus.nc.subscribe('voice.cmd.gateway.>', {
      callback: (err, m) => {
        if (err) return;
        const arrivedAt = Date.now();
        const c = decodeCommand(m.data);
        push(commands, c.sessionId, { type: CommandType[c.commandType] ?? String(c.commandType), at: c.timestamp, arrivedAt, command: c }, MAX_RECORDS);
      },
    }),
  ];
  return {
    frames: (sid) => frames.get(sid) ?? [],
    events: (sid) => events.get(sid) ?? [],
    commands: (sid) => commands.get(sid) ?? [],
    stop() {
      for (const s of subs) s.unsubscribe();
    },
  };
}

/** One barge-in, hop by hop (epoch ms on the server clock; the page's marks converted). */
export interface BargeInChain {
  /** Caller onset on the page's microphone track. */
  pageOnset: number;
  /** The caller frame holding the onset the STT dated, when the gateway published it. */
  gatewayFrame?: number;
  speechStarted?: { at: number; arrivedAt: number; audioMs: number };
  flush?: { at: number; arrivedAt: number };
  /** The gateway applied the flush (its log line). */
  gatewayFlush?: number;
  /** Last loud agent sample in the page (server clock). */
  pageSilent: number;
}

export const LOUD_FRAME_RMS = 0.02;

/** Finds the hops of the barge-in whose page onset is `pageOnset` (server clock). */
export function bargeInChain(
  trace: BusTrace,
  sessionId: string,
  pageOnset: number,
  pageSilent: number,
  gatewayFlushes: { turnId: string; at: number }[] = [],
): BargeInChain {
  const started = trace
    .events(sessionId)
    .find((e) => e.event.eventType === EventType.SPEECH_STARTED && e.at >= pageOnset - 50 && e.at < pageOnset + 2000);
  const out: BargeInChain = { pageOnset, pageSilent };
  if (!started) return out;
  const audioMs = started.event.speechStarted!.audioMs;
  out.speechStarted = { at: started.at, arrivedAt: started.arrivedAt, audioMs };
  // The frame holding the onset as the STT dated it: what came before is the uplink, what
  // comes after is the VAD's confirmation (audio it waits for) and the STT's own queue.
  const dated = trace.frames(sessionId).find((f) => f.audioMs + 20 > audioMs);
  if (dated) out.gatewayFrame = dated.capturedAt;
  const flush = trace.commands(sessionId).find((c) => c.command.commandType === CommandType.PLAYBACK_FLUSH && c.at >= started.at - 5);
  if (flush) {
    out.flush = { at: flush.at, arrivedAt: flush.arrivedAt };
    const turnId = flush.command.playbackFlush?.turnId || flush.command.correlationId;
    const applied = gatewayFlushes.find((g) => g.turnId === turnId && g.at >= flush.at - 5);
    if (applied) out.gatewayFlush = applied.at;
  }
  return out;
}

/**
 * Uplink latency per speech onset: a page-measured onset (server clock; silence ≥ 300 ms then a
 * level above LOUD_FRAME_RMS on the page's mic track) → the gateway's first frame above half that
 * level (a 16 kHz frame carries less of a fricative than the page's full-band meter).
 */
export function uplinkLags(trace: BusTrace, sessionId: string, mic: readonly (readonly [number, number])[], offsetMs: number): number[] {
  const frames = trace.frames(sessionId);
  const out: number[] = [];
  let lastLoud = -Infinity;
  for (const [t, x] of mic) {
    if (x <= LOUD_FRAME_RMS) continue;
    const ts = t + offsetMs;
    if (ts - lastLoud >= 300) {
      const f = frames.find((fr) => fr.capturedAt >= ts - 50 && fr.rms > LOUD_FRAME_RMS / 2);
      if (f && f.capturedAt - ts < 1000) out.push(f.capturedAt - ts);
    }
    lastLoud = ts;
  }
  return out;
}

/** The gateway's "playback flushed" log lines (turn id, time) from a stack's parsed logs. */
export function gatewayFlushes(lines: Record<string, unknown>[]): { turnId: string; at: number }[] {
  return lines.filter((l) => l['msg'] === 'playback flushed').map((l) => ({ turnId: String(l['turnId']), at: Date.parse(String(l['time'])) }));
}

/** "a→b 12 ms" per hop, for a printed breakdown. */
export function describeBargeIn(c: BargeInChain): string {
  const hops: [string, number | undefined][] = [
    ['page onset → onset frame at the gateway', c.gatewayFrame],
    ['→ SPEECH_STARTED sent', c.speechStarted?.at],
    ['→ orchestrator PLAYBACK_FLUSH', c.flush?.at],
    ['→ flush applied at gateway', c.gatewayFlush],
    ['→ silent in page', c.pageSilent],
  ];
  let prev = c.pageOnset;
  const parts: string[] = [];
  for (const [name, t] of hops) {
    if (t === undefined) {
      parts.push(`${name} n/a`);
      continue;
    }
    parts.push(`${name} ${Math.round(t - prev)}`);
    prev = t;
  }
  return `${parts.join(', ')} ms (total ${Math.round(c.pageSilent - c.pageOnset)})`;
}
