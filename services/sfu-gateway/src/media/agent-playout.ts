// Agent → caller playout queue (pure: no timers, no codec). The send clock asks `next()` for one
// 20 ms frame per tick; pushes, flushes and the "played" bookkeeping happen here so they can be
// tested without a browser. Durations count frames actually handed to the sender.
import { FRAME_BYTES_16K, FRAME_MS, FRAME_SAMPLES_16K } from './caller-audio';

export interface AgentPcm {
  /** PCM16 little-endian mono at 16 kHz; any length (split into 20 ms frames, the tail is held). */
  pcm16k: Uint8Array;
  turnId: string;
  speakId: string;
  /** Last chunk of this utterance: a held partial frame is padded with silence and sent. */
  last?: boolean;
}

export type PushResult = 'queued' | 'dropped_flushed' | 'dropped_full';

export interface PlaybackStarted {
  turnId: string;
  speakId: string;
}

export interface PlaybackDone {
  turnId: string;
  speakId: string;
  /** Real played duration: frames sent × 20 ms. */
  durationMs: number;
  interrupted: boolean;
}

export type PlayoutEvent = ({ type: 'started' } & PlaybackStarted) | ({ type: 'done' } & PlaybackDone);

export type NextFrame =
  | { kind: 'speech'; pcm: Buffer; events: PlayoutEvent[] }
  /** The ≤5 ms fade-out after a flush: encoded like speech (continuity), then silence. */
  | { kind: 'fade'; pcm: Buffer; events: PlayoutEvent[] }
  | { kind: 'silence'; events: PlayoutEvent[] };

export interface FlushResult {
  droppedFrames: number;
  /** Utterances that had started playing: a `done` with interrupted=true is returned for each. */
  events: PlayoutEvent[];
}

interface QueuedFrame {
  pcm: Buffer | undefined; // undefined: an end-of-utterance marker with no audio left
  turnId: string;
  speakId: string;
  last: boolean;
}

interface Speaking {
  turnId: string;
  framesSent: number;
}

export interface AgentPlayoutOptions {
  /** Upper bound of queued audio. Default 30 000 ms. */
  maxQueueMs?: number;
  /** How many flushed turn ids are remembered (their late frames are dropped). Default 256. */
  flushedTurnMemory?: number;
}

export interface AgentPlayout {
  push(chunk: AgentPcm): PushResult;
  /** Drops queued audio of `turnId` (every turn if omitted) at once; later frames of that turn are dropped. */
  flush(opts: { turnId?: string; fadeMs?: number }): FlushResult;
  next(): NextFrame;
  readonly queuedFrames: number;
  readonly stats: Readonly<{ pushedFrames: number; droppedFlushed: number; droppedFull: number; flushedFrames: number }>;
}

export function createAgentPlayout(opts: AgentPlayoutOptions = {}): AgentPlayout {
  const maxFrames = Math.ceil((opts.maxQueueMs ?? 30_000) / FRAME_MS);
  const flushedMemory = opts.flushedTurnMemory ?? 256;
  const queue: QueuedFrame[] = [];
  const partial = new Map<string, { turnId: string; buf: Buffer }>(); // speakId → held tail (< 640 bytes)
  const flushedTurns = new Set<string>(); // insertion-ordered: oldest evicted first
  const speaking = new Map<string, Speaking>(); // speakId → started utterance
  let pendingFade: Buffer | undefined;
  // The utterance whose audio was sent last (a flush fades only if it is cut mid-speech).
  let lastSentSpeakId: string | undefined;
  const stats = { pushedFrames: 0, droppedFlushed: 0, droppedFull: 0, flushedFrames: 0 };

  function rememberFlushed(turnId: string): void {
    flushedTurns.delete(turnId);
    flushedTurns.add(turnId);
    while (flushedTurns.size > flushedMemory) {
      const oldest = flushedTurns.values().next().value;
      if (oldest === undefined) break;
      flushedTurns.delete(oldest);
    }
  }

  function audioFrames(): number {
    let n = 0;
    for (const f of queue) if (f.pcm) n++;
    return n;
  }

  function doneEvent(speakId: string, interrupted: boolean): PlayoutEvent | undefined {
    const s = speaking.get(speakId);
    if (!s) return undefined;
    speaking.delete(speakId);
    return { type: 'done', turnId: s.turnId, speakId, durationMs: s.framesSent * FRAME_MS, interrupted };
  }

  return {
    get queuedFrames() {
      return audioFrames();
    },
    stats,

    push({ pcm16k, turnId, speakId, last = false }) {
      if (flushedTurns.has(turnId)) {
        stats.droppedFlushed++;
        return 'dropped_flushed';
      }
      const held = partial.get(speakId);
      const input = held ? Buffer.concat([held.buf, pcm16k]) : Buffer.from(pcm16k.buffer, pcm16k.byteOffset, pcm16k.byteLength);
      let whole = Math.floor(input.length / FRAME_BYTES_16K);
      const tail = input.length - whole * FRAME_BYTES_16K;
      const padTail = last && tail > 0;
      if (audioFrames() + whole + (padTail ? 1 : 0) > maxFrames) {
        stats.droppedFull++;
        return 'dropped_full';
      }
      partial.delete(speakId);
      for (let i = 0; i < whole; i++) {
        // Copy: the caller may reuse its buffer, and a queued frame must not change under us.
        const pcm = Buffer.from(input.subarray(i * FRAME_BYTES_16K, (i + 1) * FRAME_BYTES_16K));
        queue.push({ pcm, turnId, speakId, last: last && !padTail && i === whole - 1 });
      }
      if (padTail) {
        const pcm = Buffer.alloc(FRAME_BYTES_16K);
        input.copy(pcm, 0, whole * FRAME_BYTES_16K);
        queue.push({ pcm, turnId, speakId, last: true });
        whole++;
      } else if (tail > 0) {
        partial.set(speakId, { turnId, buf: Buffer.from(input.subarray(whole * FRAME_BYTES_16K)) });
      } else if (last && whole === 0) {
        // `last` with no audio: mark the utterance's last queued frame, or queue a marker.
        let marked = false;
        for (let i = queue.length - 1; i >= 0; i--) {
          const f = queue[i]!;
          if (f.speakId === speakId && f.pcm) {
            f.last = true;
            marked = true;
            break;
          }
        }
        if (!marked) queue.push({ pcm: undefined, turnId, speakId, last: true });
      }
      stats.pushedFrames += whole;
      return 'queued';
    },

    flush({ turnId, fadeMs = 5 }) {
      const matches = (t: string): boolean => turnId === undefined || t === turnId;
      if (turnId !== undefined) rememberFlushed(turnId);
      // Fade into silence from the audio that would have played next, if we cut an utterance
      // mid-speech; ≤ fadeMs (capped at 5 ms) then zeros for the rest of that one frame.
      const head = queue[0];
      if (head?.pcm && matches(head.turnId) && head.speakId === lastSentSpeakId && speaking.has(head.speakId)) {
        const fadeSamples = Math.max(0, Math.min(Math.round((Math.min(fadeMs, 5) * FRAME_SAMPLES_16K) / FRAME_MS), FRAME_SAMPLES_16K));
        const fade = Buffer.alloc(FRAME_BYTES_16K);
        for (let i = 0; i < fadeSamples; i++) {
          const g = 1 - (i + 1) / (fadeSamples + 1);
          fade.writeInt16LE(Math.round(head.pcm.readInt16LE(i * 2) * g), i * 2);
        }
        pendingFade = fade;
      }
      let dropped = 0;
      for (let i = queue.length - 1; i >= 0; i--) {
        const f = queue[i]!;
        if (matches(f.turnId)) {
          if (f.pcm) dropped++;
          queue.splice(i, 1);
        }
      }
      for (const [speakId, p] of partial) if (matches(p.turnId)) partial.delete(speakId);
      stats.flushedFrames += dropped;
      const events: PlayoutEvent[] = [];
      for (const [speakId, s] of [...speaking]) {
        if (matches(s.turnId)) {
          const e = doneEvent(speakId, true);
          if (e) events.push(e);
        }
      }
      return { droppedFrames: dropped, events };
    },

    next() {
      const events: PlayoutEvent[] = [];
      if (pendingFade) {
        const pcm = pendingFade;
        pendingFade = undefined;
        lastSentSpeakId = undefined;
        return { kind: 'fade', pcm, events };
      }
      for (;;) {
        const f = queue.shift();
        if (!f) {
          lastSentSpeakId = undefined;
          return { kind: 'silence', events };
        }
        if (!f.pcm) {
          const e = doneEvent(f.speakId, false);
          if (e) events.push(e);
          continue;
        }
        let s = speaking.get(f.speakId);
        if (!s) {
          s = { turnId: f.turnId, framesSent: 0 };
          speaking.set(f.speakId, s);
          events.push({ type: 'started', turnId: f.turnId, speakId: f.speakId });
        }
        s.framesSent++;
        lastSentSpeakId = f.speakId;
        if (f.last) {
          const e = doneEvent(f.speakId, false);
          if (e) events.push(e);
        }
        return { kind: 'speech', pcm: f.pcm, events };
      }
    },
  };
}
