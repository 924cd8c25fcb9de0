// One session on the replica that owns its partition: frames are put in order (sequencer),
// handed (bounded) to the session's recognizer on its host together with MIC_SET changes, and
// the recognizer's events are published in order with deterministic ids.
import { AudioSource, type Event } from '@switchboard/contracts';
import type { Logger } from '@switchboard/telemetry';
import { FrameSequencer, type SeqFrame, type SequencedFrame, type SequencerResult } from '../core/frame-sequencer';
import type { Mic, RecognizerEvent, ResumePoint } from '../core/session-recognizer';
import { toBusEvent } from '../core/to-events';
import type { HostedSession, RecognizerHost } from '../host/host';

export interface SessionInit {
  readonly mic: Mic;
  readonly resume?: ResumePoint;
  readonly firstUtterance: number;
  /** Audio from before the first frame received (an unfinished utterance heard again), in order. */
  readonly rewind?: readonly SeqFrame[];
}

export interface SessionWorkerDeps {
  readonly sessionId: string;
  readonly partition: number;
  readonly log: Logger;
  readonly sequencer: { reorderWindow: number; maxFillFrames: number };
  readonly queueMax: number;
  readonly host: RecognizerHost;
  /** Mic state + what a previous owner published; may do I/O. */
  init(): Promise<SessionInit>;
  publish(event: Event): Promise<void>;
  readonly language: string;
  readonly hooks: SessionHooks;
}

export interface SessionHooks {
  frame(outcome: 'accepted' | 'duplicate' | 'stale' | 'filled' | 'queue_full' | 'after_jump'): void;
  /** A frame was processed by the recognizer in `ms` (VAD + STT). */
  processed(ms: number): void;
  event(ev: RecognizerEvent): void;
  published(ok: boolean): void;
}

type Early = { kind: 'frame'; frame: SequencedFrame } | { kind: 'mic'; mic: Mic };

export class SessionWorker {
  readonly sessionId: string;
  readonly partition: number;
  readonly #d: SessionWorkerDeps;
  readonly #seq: FrameSequencer;
  /** What arrived while the session's init lookups ran (bounded like the queue). */
  readonly #early: Early[] = [];
  #hosted: HostedSession | undefined;
  #initStarted = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #audioSource: AudioSource = AudioSource.AUDIO_SOURCE_UNSPECIFIED;
  #publishing: Promise<void> = Promise.resolve();
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

  /** Frames waiting to be processed. */
  get queued(): number {
    return this.#hosted ? this.#hosted.pending : this.#early.length;
  }

  /** An utterance is in progress (heard, not yet final) or audio is still queued for the recognizer. */
  get busy(): boolean {
    if (this.#closed) return false;
    if (!this.#hosted) return this.#early.length > 0;
    return this.#hosted.state.speaking || this.#hosted.pending > 0;
  }

  /** Frames held back by the sequencer waiting for a missing one. */
  get heldBack(): number {
    return this.#seq.pending;
  }

  /** For the /sessions view: what this session is doing now. */
  describe(): { mic: Mic | undefined; queued: number; heldBack: number; speaking: boolean; decoding: boolean; quietMs: number } {
    const st = this.#hosted?.state;
    return {
      mic: st?.mic,
      queued: this.queued,
      heldBack: this.#seq.pending,
      speaking: st?.speaking ?? false,
      decoding: st?.decoding ?? false,
      quietMs: Date.now() - this.lastFrameAt,
    };
  }

  pushFrame(frame: SeqFrame & { source: AudioSource }): void {
    if (this.#closed) return;
    this.lastFrameAt = Date.now();
    this.#audioSource = frame.source;
    const r = this.#seq.push(frame);
    if (r.outcome === 'duplicate' || r.outcome === 'stale') {
      this.#d.hooks.frame(r.outcome);
      return;
    }
    this.#d.hooks.frame('accepted');
    this.#forward(r);
  }

  /** The stream went quiet with frames held back for a missing one: play them out now. */
  flushHeldBack(): void {
    if (this.#closed || this.#seq.pending === 0) return;
    this.#forward(this.#seq.flush());
  }

  #forward(r: SequencerResult): void {
    for (let i = 0; i < r.filled; i++) this.#d.hooks.frame('filled');
    for (const f of r.frames) {
      if (f.afterJump) this.#d.hooks.frame('after_jump');
      if (this.queued >= this.#d.queueMax) {
        this.#d.hooks.frame('queue_full');
        continue;
      }
      if (this.#hosted) this.#hosted.push(f);
      else this.#early.push({ kind: 'frame', frame: f });
    }
    this.#open();
  }

  setMic(mic: Mic): void {
    if (this.#closed) return;
    if (this.#hosted) this.#hosted.setMic(mic);
    else this.#early.push({ kind: 'mic', mic });
  }

  /** Drops the session: an utterance in progress is aborted. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#early.length = 0;
      await this.#hosted?.close();
    })();
    return this.#closing;
  }

  /** Resolves once every event produced so far was published (or given up on). */
  flushed(): Promise<void> {
    return this.#publishing;
  }

  #open(): void {
    if (this.#initStarted) return;
    this.#initStarted = true;
    void (async () => {
      let init: SessionInit;
      try {
        init = await this.#d.init();
      } catch (err) {
        // Fall back to defaults rather than lose the call's audio.
        this.#d.log.warn({ err: (err as Error).message }, 'stt-adapter: session init failed; using defaults');
        init = { mic: 'OPEN', firstUtterance: 0 };
      }
      if (this.#closed) return;
      const hosted = this.#d.host.open({
        sessionId: this.sessionId,
        mic: init.mic,
        ...(init.resume ? { resume: init.resume } : {}),
        firstUtterance: init.firstUtterance,
        sink: (ev) => this.#emit(ev),
        onError: (msg, err) => this.#d.log.error({ err: err.message, code: err.code }, `stt-adapter: ${msg}`),
        onFrameDone: (ms) => this.#d.hooks.processed(ms),
      });
      this.#hosted = hosted;
      for (const f of init.rewind ?? []) hosted.push({ audioMs: f.audioMs, samples: f.samples });
      for (const e of this.#early.splice(0)) {
        if (e.kind === 'frame') hosted.push(e.frame);
        else hosted.setMic(e.mic);
      }
    })();
  }

  #emit(ev: RecognizerEvent): void {
    this.#d.hooks.event(ev);
    // An utterance that ends without a final is a turn the caller will wait for in vain: say so
    // per session, not only in a metric (bench/load could not tell where such a turn went).
    if (ev.type === 'no_final') this.#d.log.info({ utterance: ev.utterance, reason: ev.reason }, 'stt: utterance ended without a final');
    // Why the caller waited as long as they did before the turn began (no words at info).
    if (ev.type === 'speech_ended') {
      const { kind, ...early } = ev.endpoint;
      this.#d.log.info({ utterance: ev.utterance, durationMs: ev.durationMs, endpoint: kind, ...early }, 'stt: speech ended');
    }
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
