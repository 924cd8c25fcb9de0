// One session on the replica that owns its partition: frames are put in order (sequencer),
// queued (bounded), and fed one at a time to the session's recognizer together with MIC_SET
// changes; the recognizer's events are published in order with deterministic ids.
// A slow decode only delays this session's queue: the final pass runs off the event loop.
import { AudioSource, type Event } from '@switchboard/contracts';
import type { Logger } from '@switchboard/telemetry';
import { FrameSequencer, type SeqFrame, type SequencerResult } from '../core/frame-sequencer';
import { SessionRecognizer, type Mic, type RecognizerEvent, type ResumePoint, type SessionRecognizerOptions } from '../core/session-recognizer';
import { toBusEvent } from '../core/to-events';

export interface SessionInit {
  readonly mic: Mic;
  readonly resume?: ResumePoint;
  readonly firstUtterance: number;
}

export interface SessionWorkerDeps {
  readonly sessionId: string;
  readonly partition: number;
  readonly log: Logger;
  readonly sequencer: { reorderWindow: number; maxFillFrames: number };
  readonly queueMax: number;
  /** Everything the recognizer needs except what the session learns at init. */
  readonly recognizer: Omit<SessionRecognizerOptions, 'sink' | 'mic' | 'resume' | 'firstUtterance'>;
  /** Mic state + what a previous owner published; may do I/O. */
  init(firstAudioMs: number): Promise<SessionInit>;
  publish(event: Event): Promise<void>;
  readonly language: string;
  readonly hooks: SessionHooks;
}

export interface SessionHooks {
  frame(outcome: 'accepted' | 'duplicate' | 'stale' | 'filled' | 'queue_full' | 'after_jump'): void;
  queueDelta(delta: number): void;
  event(ev: RecognizerEvent): void;
  published(ok: boolean): void;
}

type Item = { kind: 'frame'; audioMs: number; samples: Int16Array; afterJump: boolean; source: AudioSource } | { kind: 'mic'; mic: Mic };

export class SessionWorker {
  readonly sessionId: string;
  readonly partition: number;
  readonly #d: SessionWorkerDeps;
  readonly #seq: FrameSequencer;
  readonly #queue: Item[] = [];
  #queuedFrames = 0;
  #running = false;
  #rec: SessionRecognizer | undefined;
  #initFailed = false;
  #closed = false;
  #audioSource: AudioSource = AudioSource.AUDIO_SOURCE_UNSPECIFIED;
  #publishing: Promise<void> = Promise.resolve();
  #idle: Promise<void> = Promise.resolve();
  #idleResolve: (() => void) | undefined;
  /** Wall clock of the last frame received (idle detection). */
  lastFrameAt = Date.now();

  constructor(deps: SessionWorkerDeps) {
    this.#d = deps;
    this.sessionId = deps.sessionId;
    this.partition = deps.partition;
    this.#seq = new FrameSequencer({ ...deps.sequencer, frameMs: 20, frameSamples: 320 });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get queued(): number {
    return this.#queuedFrames;
  }

  /** Frames held back by the sequencer waiting for a missing one. */
  get heldBack(): number {
    return this.#seq.pending;
  }

  get mic(): Mic | undefined {
    return this.#rec?.mic;
  }

  pushFrame(frame: SeqFrame & { source: AudioSource }): void {
    if (this.#closed) return;
    this.lastFrameAt = Date.now();
    const r = this.#seq.push(frame);
    if (r.outcome === 'duplicate' || r.outcome === 'stale') {
      this.#d.hooks.frame(r.outcome);
      return;
    }
    this.#d.hooks.frame('accepted');
    this.#enqueueSequenced(r, frame.source);
  }

  /** The stream went quiet with frames held back for a missing one: play them out now. */
  flushHeldBack(): void {
    if (this.#closed || this.#seq.pending === 0) return;
    this.#enqueueSequenced(this.#seq.flush(), this.#audioSource);
  }

  #enqueueSequenced(r: SequencerResult, source: AudioSource): void {
    for (let i = 0; i < r.filled; i++) this.#d.hooks.frame('filled');
    for (const f of r.frames) {
      if (f.afterJump) this.#d.hooks.frame('after_jump');
      if (this.#queuedFrames >= this.#d.queueMax) {
        this.#d.hooks.frame('queue_full');
        continue;
      }
      this.#queue.push({ kind: 'frame', audioMs: f.audioMs, samples: f.samples, afterJump: f.afterJump, source });
      this.#queuedFrames++;
      this.#d.hooks.queueDelta(1);
    }
    this.#kick();
  }

  setMic(mic: Mic): void {
    if (this.#closed) return;
    this.#queue.push({ kind: 'mic', mic });
    this.#kick();
  }

  /** Drops the session: an utterance in progress is aborted. Resolves when the queue loop has stopped. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#d.hooks.queueDelta(-this.#queuedFrames);
      this.#queuedFrames = 0;
      this.#queue.length = 0;
      this.#rec?.close();
    }
    await this.#idle;
  }

  /** Resolves once every event produced so far was published (or given up on). */
  flushed(): Promise<void> {
    return this.#publishing;
  }

  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    this.#idle = new Promise((r) => (this.#idleResolve = r));
    void this.#loop();
  }

  async #loop(): Promise<void> {
    try {
      for (let item = this.#queue.shift(); item !== undefined && !this.#closed; item = this.#queue.shift()) {
        if (item.kind === 'frame') {
          this.#queuedFrames--;
          this.#d.hooks.queueDelta(-1);
          this.#audioSource = item.source;
        }
        const rec = await this.#recognizer(item);
        if (!rec || this.#closed) continue;
        try {
          if (item.kind === 'frame') await rec.push(item);
          else await rec.setMic(item.mic);
        } catch (err) {
          this.#d.log.error({ err: (err as Error).message, code: (err as { code?: string }).code }, 'stt-adapter: processing audio failed');
        }
      }
    } finally {
      this.#running = false;
      this.#idleResolve?.();
      if (this.#queue.length > 0 && !this.#closed) this.#kick();
    }
  }

  async #recognizer(first: Item): Promise<SessionRecognizer | undefined> {
    if (this.#rec || this.#initFailed) return this.#rec;
    let init: SessionInit;
    try {
      init = await this.#d.init(first.kind === 'frame' ? first.audioMs : 0);
    } catch (err) {
      // Fall back to defaults rather than lose the call's audio.
      this.#d.log.warn({ err: (err as Error).message }, 'stt-adapter: session init lookup failed; using defaults');
      init = { mic: 'OPEN', firstUtterance: 0 };
    }
    if (this.#closed) return undefined;
    this.#rec = new SessionRecognizer({
      ...this.#d.recognizer,
      mic: init.mic,
      ...(init.resume ? { resume: init.resume } : {}),
      firstUtterance: init.firstUtterance,
      sink: (ev) => this.#emit(ev),
      onSttError: (err, utterance) =>
        this.#d.log.error({ err: (err as Error).message, code: (err as { code?: string }).code, utterance }, 'stt-adapter: speech recognition failed'),
    });
    if (init.mic === 'CLOSED') this.#rec.close();
    return this.#rec;
  }

  #emit(ev: RecognizerEvent): void {
    this.#d.hooks.event(ev);
    const event = toBusEvent(ev, { sessionId: this.sessionId, audioSource: this.#audioSource, language: this.#d.language, now: Date.now() });
    if (!event) return;
    if (ev.type === 'final') {
      // Transcripts only at debug, under a redacted key; info lines carry the shape, not the words.
      this.#d.log.info({ utterance: ev.utterance, words: ev.text.split(' ').length, decodeMs: Math.round(ev.decodeMs), speechEndedAudioMs: ev.speechEndedAudioMs }, 'stt final');
      this.#d.log.debug({ utterance: ev.utterance, text: ev.text }, 'stt final text');
    }
    // Chained: events of one session reach the stream in the order they happened.
    this.#publishing = this.#publishing.then(() => this.#publishWithRetry(event));
  }

  async #publishWithRetry(event: Event): Promise<void> {
    const delays = [50, 200, 1000];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#d.publish(event);
        this.#d.hooks.published(true);
        return;
      } catch (err) {
        const delay = delays[attempt];
        if (delay === undefined) {
          this.#d.hooks.published(false);
          this.#d.log.error({ err: (err as Error).message, eventId: event.eventId, eventType: event.eventType }, 'stt-adapter: event could not be published');
          return;
        }
        // Same event id on every attempt: the stream's dedup makes a retry of a stored publish a no-op.
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
