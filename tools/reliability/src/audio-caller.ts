// Callers that speak: for audio sessions the synthetic caller does not publish speech events, it
// streams real speech (Flite, the phrases of the script) as 20 ms PCM16 frames onto
// voice.audio.in at real-time pace, with room tone (zeros) in between, the way the gateway
// forwards a browser's microphone — so the stt-adapter's VAD and recogniser are in the path.
// One self-correcting 20 ms clock sends one frame per session per tick.
import type { Bus } from '@switchboard/bus';
import { AudioFrame, AudioSource } from '@switchboard/contracts';
import { concatAudio, silence, synthesizeFixture } from '@switchboard/speech';
import type { SpokenClip } from './recovery';

/** Phrases the embedded recogniser gets right with the domain LM (the load bench's). */
export const AUDIO_PHRASES = ['how do i reset my password', 'where is my order', 'what are your opening hours', 'i want to return an item'] as const;

const FRAME = 320;
/** room tone before the speech in every clip */
const LEAD_MS = 200;

interface Line {
  seq: number;
  audioMs: number;
  /** samples still to send, then zeros */
  queue: Int16Array[];
  offset: number;
  /** resolves when the current clip has been sent */
  sent: Array<() => void>;
}

export class AudioCallers {
  readonly #lines = new Map<string, Line>();
  readonly #clips = new Map<string, Int16Array>();
  /** clips fully sent, per session (kept after the session closes) */
  readonly #said = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #tick = 0;
  /** every clip started, with the time its speech began (for the recovery figures) */
  readonly clips: SpokenClip[] = [];
  framesSent = 0;
  /** ticks that fired more than a frame late (the machine was busy) */
  lateTicks = 0;

  private constructor(private readonly bus: Bus) {}

  /** Synthesizes each phrase once (with 600 ms of trailing room tone inside the clip). */
  static async create(bus: Bus, phrases: readonly string[] = AUDIO_PHRASES): Promise<AudioCallers> {
    const a = new AudioCallers(bus);
    for (const text of new Set(phrases)) {
      const speech = await synthesizeFixture(text, 'flite:slt');
      a.#clips.set(text, concatAudio(silence(LEAD_MS), speech, silence(600)).samples);
    }
    return a;
  }

  /** Starts the clock; sessions join with `open`. */
  start(): void {
    this.#t0 = performance.now();
    const loop = (): void => {
      this.#tick++;
      for (const [sid, l] of this.#lines) this.#send(sid, l);
      const late = performance.now() - (this.#t0 + this.#tick * 20);
      if (late > 20) this.lateTicks++;
      this.#timer = setTimeout(loop, Math.max(0, this.#t0 + (this.#tick + 1) * 20 - performance.now()));
    };
    this.#timer = setTimeout(loop, 20);
  }

  /** The session's microphone stream begins (room tone until something is said). */
  open(sessionId: string): void {
    if (!this.#lines.has(sessionId)) this.#lines.set(sessionId, { seq: 0, audioMs: 0, queue: [], offset: 0, sent: [] });
  }

  /** The caller hung up: no more frames. */
  close(sessionId: string): void {
    const l = this.#lines.get(sessionId);
    this.#lines.delete(sessionId);
    for (const r of l?.sent.splice(0) ?? []) r();
  }

  /** Says `text` (a synthesized phrase); resolves once its last frame was sent. */
  say(sessionId: string, text: string): Promise<void> {
    const clip = this.#clips.get(text);
    if (!clip) throw new Error(`no clip for ${JSON.stringify(text)}: pass it to AudioCallers.create`);
    this.open(sessionId);
    const l = this.#lines.get(sessionId)!;
    l.queue.push(clip);
    return new Promise((r) => l.sent.push(r));
  }

  /** Clips fully sent for a session. */
  said(sessionId: string): number {
    return this.#said.get(sessionId) ?? 0;
  }

  #send(sessionId: string, l: Line): void {
    let pcm: Int16Array;
    const clip = l.queue[0];
    if (clip) {
      if (l.offset === 0) {
        const now = Date.now();
        this.clips.push({ sessionId, startedAt: now, onsetAt: now + LEAD_MS });
      }
      pcm = new Int16Array(FRAME);
      pcm.set(clip.subarray(l.offset, l.offset + FRAME));
      l.offset += FRAME;
      if (l.offset >= clip.length) {
        l.queue.shift();
        l.offset = 0;
        this.#said.set(sessionId, (this.#said.get(sessionId) ?? 0) + 1);
        l.sent.shift()?.();
      }
    } else pcm = new Int16Array(FRAME);
    this.bus.publishAudioIn(
      AudioFrame.fromPartial({
        sessionId,
        seq: l.seq++,
        audioMs: l.audioMs,
        sampleRate: 16000,
        pcm: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength),
        source: AudioSource.AUDIO_SOURCE_TEST,
        capturedAt: Date.now(),
      }),
    );
    l.audioMs += 20;
    this.framesSent++;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    for (const sid of [...this.#lines.keys()]) this.close(sid);
  }
}
