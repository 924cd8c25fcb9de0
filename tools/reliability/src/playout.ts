// The gateway's side of agent audio, for runs without a browser: every frame on
// voice.audio.out is recorded (stream time, ids, seq) for the checker, and — like the gateway —
// frames of a turn flushed or cancelled are not played, the first played frame of an utterance
// reports PLAYBACK_STARTED and its last frame PLAYBACK_DONE (deterministic event ids).
import { subscribeOrdered, type Bus, type OrderedSubscription } from '@switchboard/bus';
import { STREAMS, decodeAudioFrame, makeEvent, subjects, type Event } from '@switchboard/contracts';
import type { RecordedCommand } from './history';
import type { HistoryRecorder } from './recorder';

export interface RecordedFrame {
  sessionId: string;
  turnId: string;
  speakId: string;
  seq: number;
  last: boolean;
  /** stream timestamp, ms since epoch */
  time: number;
  /** the stand-in gateway dropped it (its turn was flushed/cancelled before it arrived) */
  dropped: boolean;
}

export class PlayoutStandIn {
  readonly frames: RecordedFrame[] = [];
  readonly errors: Error[] = [];
  /** `<sessionId>/<turnId>` flushed or cancelled */
  readonly #cancelled = new Set<string>();
  readonly #started = new Set<string>();
  #sub: OrderedSubscription | undefined;
  #stopped = false;

  private constructor(private readonly bus: Bus) {}

  static async start(bus: Bus, recorder: HistoryRecorder): Promise<PlayoutStandIn> {
    const p = new PlayoutStandIn(bus);
    recorder.onCommand((c) => p.#onCommand(c));
    p.#sub = await subscribeOrdered(bus, { stream: STREAMS.audioOut, filter: subjects.audioOutAll, onMessage: (m) => p.#onFrame(m.data, Math.floor(m.info.timestampNanos / 1e6)) });
    return p;
  }

  #onCommand(rc: RecordedCommand): void {
    const c = rc.command;
    const turn = c.playbackFlush?.turnId ?? c.ttsCancel?.turnId;
    if (turn) this.#cancelled.add(`${c.sessionId}/${turn}`);
  }

  #onFrame(data: Uint8Array, time: number): void {
    const f = decodeAudioFrame(data);
    const dropped = this.#cancelled.has(`${f.sessionId}/${f.turnId}`);
    this.frames.push({ sessionId: f.sessionId, turnId: f.turnId, speakId: f.speakId, seq: f.seq, last: f.last, time, dropped });
    if (dropped || this.#stopped) return;
    const key = `${f.sessionId}/${f.speakId}`;
    const ids = { sessionId: f.sessionId, source: 'playout-stand-in', correlationId: f.turnId };
    if (!this.#started.has(key)) {
      this.#started.add(key);
      this.#publish(makeEvent('PLAYBACK_STARTED', { ...ids, eventId: `${key}:pstarted` }, { turnId: f.turnId, speakId: f.speakId }));
    }
    if (f.last) this.#publish(makeEvent('PLAYBACK_DONE', { ...ids, eventId: `${key}:pdone` }, { turnId: f.turnId, speakId: f.speakId, durationMs: (f.seq + 1) * 20 }));
  }

  #publish(ev: Event): void {
    void (async () => {
      // Same id on every attempt: the stream's dedup keeps one copy.
      for (let attempt = 1; !this.#stopped; attempt++) {
        try {
          await this.bus.publishEvent(ev);
          return;
        } catch (err) {
          if (attempt >= 20) {
            this.errors.push(err as Error);
            return;
          }
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#sub?.stop();
  }
}
