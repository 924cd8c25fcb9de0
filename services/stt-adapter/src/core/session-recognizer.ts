// One session's speech: VAD + segmenter over the session's audio clock, STT per utterance, and
// the microphone contract. No NATS here: events go to a sink, the shell publishes them.
//
// Every utterance keeps its own audio from (onset − preroll) until it ends, whatever the mic
// says. That is what lets a barge-in work: speech that starts while GATED only raises
// SPEECH_STARTED; when the orchestrator answers with MIC_SET OPEN mid-utterance (or shortly
// after it ended), the whole utterance, from its onset, is decoded and its final emitted.
import {
  UtteranceSegmenter,
  highBandTiltDb,
  rmsDbfs,
  SpeechError,
  type SegmenterConfig,
  type SegmenterEvent,
  type SttProvider,
  type SttResult,
  type SttUtterance,
  type Vad,
  type VadStream,
} from '@switchboard/speech';

export type Mic = 'OPEN' | 'GATED' | 'CLOSED';

const DEFAULT_DECODER_WAIT_MS = 5_000;
const DECODER_POLL_MS = 20;
/** Audio an attaching decoder is given off-thread (pushBacklog) when longer than this; an onset's
 *  preroll (~300–500 ms) is pushed inline as before: a hop to a pool thread costs more than it
 *  saves there when the cores are saturated. */
const BACKLOG_OFF_THREAD_MS = 800;

export type RecognizerEvent =
  | { readonly type: 'speech_started'; readonly utterance: number; readonly audioMs: number; readonly mic: Mic }
  | {
      readonly type: 'speech_ended';
      readonly utterance: number;
      readonly audioMs: number;
      readonly durationMs: number;
      /** What ended it, and how the early final pass fared: why a turn waited (logs, metrics). */
      readonly endpoint: Endpoint;
    }
  | { readonly type: 'partial'; readonly utterance: number; readonly index: number; readonly text: string }
  | {
      readonly type: 'final';
      readonly utterance: number;
      readonly text: string;
      readonly confidence: number;
      readonly speechEndedAudioMs: number;
      /** Wall time from the end of speech being detected to the final text. */
      readonly decodeMs: number;
    }
  /** Utterances that end without a final, with why (metrics; nothing is published). */
  | { readonly type: 'no_final'; readonly utterance: number; readonly reason: NoFinalReason };

/**
 * How an utterance ended. `words`: its early final read complete (completeEndMs); `hangover`: the
 * whole hangover of silence ran out; `cut`: max length, a jump in the timeline, or the session
 * ended. The early final pass's fate tells why `hangover` won: it was still running (its wall
 * time so far), it read incomplete, or resumed speech dropped it.
 */
export interface Endpoint {
  readonly kind: 'words' | 'hangover' | 'cut' | 'short';
  /** Wall time of the early final pass when it had finished, ms. */
  readonly earlyPassMs?: number;
  /** The early pass was still running when the utterance ended. */
  readonly earlyPending?: boolean;
  /** The early pass's text read complete (readsComplete). */
  readonly readComplete?: boolean;
  /** Early passes dropped because speech resumed within the hangover. */
  readonly earlyDropped: number;
}

export type NoFinalReason = 'empty' | 'gated' | 'too_short' | 'aborted' | 'replayed' | 'stt_error' | 'no_decoder';

/** What the event log says this session's previous owner already published (takeover/restart). */
export interface ResumePoint {
  /** Last SPEECH_STARTED published: its utterance index and onset. */
  readonly lastStart?: { readonly utterance: number; readonly audioMs: number };
  /** Whether that utterance's SPEECH_ENDED was published too. */
  readonly lastStartEnded: boolean;
  /** Where that utterance ended (its SPEECH_ENDED audioMs), when it did. */
  readonly lastEndAudioMs?: number;
}

export interface SessionRecognizerOptions {
  readonly vad: Vad;
  readonly stt: SttProvider;
  readonly segmenter?: SegmenterConfig;
  readonly prerollMs: number;
  readonly partialEveryMs: number;
  readonly maxUtteranceMs: number;
  readonly gatedGraceMs: number;
  /** How long an ended utterance waits for a free decoder before it ends without a final (default 5 s). */
  readonly decoderWaitMs?: number;
  readonly resumeToleranceMs: number;
  /**
   * Onset confirmation while GATED (the agent speaks: an onset is a barge-in, and every 20 ms of
   * confirmation is 20 ms more of the agent talking over the caller). Default: the segmenter's.
   */
  readonly gatedOnsetConfirmMs?: number;
  /**
   * After this much trailing silence (OPEN mic) the final search pass starts, while the hangover
   * still runs, so the final is ready when the hangover ends instead of 70–230 ms after it. If
   * speech resumes, the early result is dropped and the utterance is decoded again from its audio.
   * 0 = off.
   */
  readonly earlyFinalMs?: number;
  /**
   * Endpointing on the words: once the early final pass has its text and the trailing silence is
   * this long, an utterance that reads complete (its last word is not one a sentence goes on
   * from: "and", "the", "my", …) ends now instead of after the whole hangover. 0 = off (needs
   * earlyFinalMs).
   */
  readonly completeEndMs?: number;
  /**
   * Speech resuming within this much audio after such an early end continues that utterance:
   * the new one is decoded from the earlier one's onset, so its final carries both parts (the
   * orchestrator takes a final in THINKING as superseding the turn, in SPEAKING as a barge-in).
   */
  readonly rejoinMs?: number;
  readonly language?: string;
  readonly mic: Mic;
  readonly resume?: ResumePoint;
  /** Index of the first utterance when nothing was published before. */
  readonly firstUtterance?: number;
  readonly sink: (ev: RecognizerEvent) => void;
  readonly now?: () => number;
  readonly onSttError?: (err: unknown, utterance: number) => void;
}

export interface RecognizerFrame {
  readonly audioMs: number;
  readonly samples: Int16Array;
  /** The timeline jumped before this frame: whatever was being said has ended. */
  readonly afterJump?: boolean;
}

interface Utterance {
  readonly index: number;
  readonly startMs: number;
  /** Already handled by a previous owner of the session: VAD only, nothing published. */
  readonly replayed: boolean;
  /** Audio from onset − preroll; kept until the utterance ends (bounded by maxUtteranceMs). */
  readonly frames: Int16Array[];
  stt: SttUtterance | null;
  /** A final search pass started during the hangover (earlyFinalMs). */
  early: Promise<FinalPass> | null;
  /** That pass's outcome once it has one. */
  earlyDone: FinalPass | null;
  /** Wall time the early pass started / took (Endpoint). */
  earlyStartedAt: number;
  earlyPassMs: number | undefined;
  earlyDropped: number;
  /** Ended by completeEndMs (before its hangover ran out). */
  endedEarly: boolean;
  lastPartial: string;
  sincePartialMs: number;
  partials: number;
}

/** A lone word is what the first pass makes of noise ("if", "fee"); the final's second pass drops
 *  it. Partials wait for two words (barge-in never depends on them: SPEECH_STARTED does that). */
const PARTIAL_MIN_WORDS = 2;

/** Words PocketSphinx may return that are not speech. */
const NON_SPEECH = /^(<[^>]*>|\[[^\]]*\]|\+\+.*\+\+)$/;

/** Words a sentence goes on from: an utterance ending on one of them waits for its hangover. */
const CONTINUES = new Set(
  'a an the and or but so because if that then than to of for from with without about into at in on by as my your our their his her its this these those is are was were be been am do does did can could would should will shall have has had not no very really just like um uh er hmm i we you they he she it me want need'.split(' '),
);

/** Whether a transcript reads as a finished utterance (completeEndMs). */
export function readsComplete(text: string): boolean {
  const words = text.toLowerCase().split(/\s+/).filter((w) => w !== '');
  const last = words.at(-1);
  return last !== undefined && !CONTINUES.has(last.replace(/[^a-z']/g, ''));
}

export function cleanTranscript(text: string): string {
  return text
    .split(/\s+/)
    .map((w) => w.replace(/\(\d+\)$/, ''))
    .filter((w) => w !== '' && !NON_SPEECH.test(w))
    .join(' ');
}

type FinalPass = { ok: true; result: SttResult } | { ok: false; err: unknown };

/** The final search pass as a promise that never rejects (it may be started early and dropped). */
function finalPass(stt: SttUtterance): Promise<FinalPass> {
  return stt.finishAsync().then(
    (result) => ({ ok: true as const, result }),
    (err: unknown) => ({ ok: false as const, err }),
  );
}

export class SessionRecognizer {
  readonly #o: SessionRecognizerOptions;
  readonly #segmenter: UtteranceSegmenter;
  readonly #vad: VadStream;
  readonly #frameMs: number;
  readonly #ringCapacity: number;
  readonly #ring: { audioMs: number; samples: Int16Array }[] = [];
  readonly #now: () => number;
  #mic: Mic;
  #resume: ResumePoint | undefined;
  #firstAudioMs: number | undefined;
  #nextUtterance: number;
  #cur: Utterance | null = null;
  /** A GATED utterance that just ended, waiting briefly for MIC_SET OPEN. */
  #lingering: { u: Utterance; end: { audioMs: number; durationMs: number }; until: number } | null = null;
  /** Audio of an utterance ended by completeEndMs and what followed, while it may be rejoined. */
  #rejoin: { frames: Int16Array[]; untilMs: number } | null = null;
  #closed = false;

  constructor(opts: SessionRecognizerOptions) {
    this.#o = opts;
    this.#segmenter = new UtteranceSegmenter(opts.segmenter);
    this.#frameMs = this.#segmenter.config.frameMs;
    const c = this.#segmenter.config;
    this.#ringCapacity = Math.ceil((opts.prerollMs + c.onsetConfirmMs + c.onsetGapMs + 200) / this.#frameMs);
    this.#vad = opts.vad.createStream();
    this.#mic = opts.mic;
    this.#now = opts.now ?? Date.now;
    this.#resume = opts.resume?.lastStart ? opts.resume : undefined;
    this.#nextUtterance = this.#resume?.lastStart ? this.#resume.lastStart.utterance + 1 : (opts.firstUtterance ?? 0);
  }

  get mic(): Mic {
    return this.#mic;
  }

  get speaking(): boolean {
    return this.#cur !== null;
  }

  /** Holds a decoder now (utterance being transcribed). */
  get decoding(): boolean {
    return this.#cur?.stt != null;
  }

  async push(frame: RecognizerFrame): Promise<void> {
    if (this.#closed || this.#mic === 'CLOSED') return;
    this.#firstAudioMs ??= frame.audioMs;
    if (this.#lingering && this.#now() > this.#lingering.until) {
      this.#o.sink({ type: 'no_final', utterance: this.#lingering.u.index, reason: 'gated' });
      this.#lingering = null;
    }
    if (frame.afterJump) await this.#flushSegmenter();
    const probability = await this.#vad.process(frame.samples);
    if (this.#closed) return;
    this.#ring.push({ audioMs: frame.audioMs, samples: frame.samples });
    if (this.#ring.length > this.#ringCapacity) this.#ring.shift();
    if (this.#rejoin && !this.#cur) {
      if (frame.audioMs >= this.#rejoin.untilMs) this.#rejoin = null;
      else this.#rejoin.frames.push(frame.samples);
    }
    let startedNow = false;
    const onset = this.#mic === 'GATED' && this.#o.gatedOnsetConfirmMs !== undefined ? { onsetConfirmMs: this.#o.gatedOnsetConfirmMs } : undefined;
    const energyDb = rmsDbfs(frame.samples);
    // The sibilant onset path (segmenter.fricativeOnset) only while GATED, where onset speed is
    // barge-in speed; OPEN onsets wait for Silero (nothing is cut short by a late one).
    const fo = this.#segmenter.config.fricativeOnset;
    const tilt = this.#mic === 'GATED' && fo.enabled && energyDb >= fo.minLevelDb ? { tiltDb: highBandTiltDb(frame.samples) } : {};
    for (const ev of this.#segmenter.push({ audioMs: frame.audioMs, probability, energyDb, ...tilt }, onset)) {
      if (ev.type === 'speech_start') {
        this.#startUtterance(ev.audioMs);
        startedNow = true;
      } else {
        await this.#endUtterance(ev, 'hangover');
      }
    }
    const u = this.#cur;
    if (!u || startedNow) return;
    u.frames.push(frame.samples);
    this.#earlyFinal(u);
    const completeEnd = this.#o.completeEndMs ?? 0;
    if (completeEnd > 0 && u.earlyDone?.ok && this.#mic === 'OPEN' && this.#segmenter.trailingSilenceMs >= completeEnd && readsComplete(cleanTranscript(u.earlyDone.result.text))) {
      u.endedEarly = true;
      await this.#flushSegmenter();
      return;
    }
    if (!u.stt) this.#attach(u); // retried every frame: the decoder pool may have been full
    else {
      u.stt.push(frame.samples);
      this.#maybePartial(u);
    }
    if (frame.audioMs + this.#frameMs - u.startMs >= this.#o.maxUtteranceMs) await this.#flushSegmenter();
  }

  /** Applies a MIC_SET. CLOSED ends the session's speech state (the shell drops the session). */
  async setMic(mic: Mic): Promise<void> {
    if (this.#closed) return;
    this.#mic = mic;
    if (mic === 'OPEN') {
      if (this.#cur) this.#attach(this.#cur);
      const l = this.#lingering;
      this.#lingering = null;
      if (l && this.#now() <= l.until) {
        this.#attach(l.u);
        await this.#finalize(l.u, l.end);
      } else if (l) this.#o.sink({ type: 'no_final', utterance: l.u.index, reason: 'gated' });
    } else if (mic === 'GATED') {
      // No transcript while gated; the audio is kept, so OPEN again re-attaches from the onset.
      this.#cur?.stt?.abort();
      if (this.#cur) {
        this.#cur.stt = null;
        this.#cur.early = null;
        this.#cur.earlyDone = null;
      }
    } else {
      this.close();
    }
  }

  /** Drops all state; an utterance in progress is aborted (its decoder goes back to the pool). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#cur) {
      this.#cur.stt?.abort();
      if (!this.#cur.replayed) this.#o.sink({ type: 'no_final', utterance: this.#cur.index, reason: 'aborted' });
      this.#cur = null;
    }
    this.#lingering = null;
    this.#rejoin = null;
    this.#ring.length = 0;
  }

  #startUtterance(startMs: number): void {
    this.#cur?.stt?.abort();
    const assigned = this.#assignIndex(startMs);
    // A continuation of an utterance that ended early: decoded from that one's onset.
    const rejoined = this.#rejoin;
    this.#rejoin = null;
    const u: Utterance = {
      index: assigned.index,
      startMs,
      replayed: assigned.replayed,
      frames: rejoined && !assigned.replayed ? rejoined.frames : this.#ring.filter((r) => r.audioMs >= startMs - this.#o.prerollMs).map((r) => r.samples),
      stt: null,
      early: null,
      earlyDone: null,
      earlyStartedAt: 0,
      earlyPassMs: undefined,
      earlyDropped: 0,
      endedEarly: false,
      lastPartial: '',
      sincePartialMs: 0,
      partials: 0,
    };
    this.#cur = u;
    if (u.replayed) return;
    this.#o.sink({ type: 'speech_started', utterance: u.index, audioMs: startMs, mic: this.#mic });
    this.#attach(u);
  }

  /**
   * Utterance indexes make event ids, so a replica that took the session over must continue
   * the previous owner's numbering: an onset it re-detects (replayed audio) keeps the index
   * already published — the stream's dedup then drops the repeats — and older ones stay silent.
   */
  #assignIndex(startMs: number): { index: number; replayed: boolean } {
    const r = this.#resume;
    if (r?.lastStart) {
      const tol = this.#o.resumeToleranceMs;
      const last = r.lastStart;
      const redetected = Math.abs(startMs - last.audioMs) <= tol;
      // The replay began inside the utterance the previous owner had open.
      const joinedMidway = !r.lastStartEnded && this.#firstAudioMs !== undefined && startMs <= this.#firstAudioMs + tol && startMs >= last.audioMs;
      if (redetected || joinedMidway) {
        this.#resume = undefined;
        return { index: last.utterance, replayed: false };
      }
      // Older than that utterance, or inside it once it had ended (the replay began in its tail:
      // transcribed again, "…my password" became a second final — found by the 100-kill run).
      if (startMs < last.audioMs || (r.lastStartEnded && r.lastEndAudioMs !== undefined && startMs < r.lastEndAudioMs)) return { index: -1, replayed: true };
      this.#resume = undefined;
    }
    return { index: this.#nextUtterance++, replayed: false };
  }

  /**
   * Starts the final search pass once the hangover has run `earlyFinalMs` (the rest of the
   * hangover is silence the final would not use); speech resuming drops that result, and the
   * next frame re-attaches a decoder with the whole utterance's audio.
   */
  #earlyFinal(u: Utterance): void {
    const at = this.#o.earlyFinalMs ?? 0;
    if (at <= 0) return;
    const silence = this.#segmenter.trailingSilenceMs;
    if (u.early && silence === 0) {
      u.early = null;
      u.earlyDone = null;
      u.earlyPassMs = undefined;
      u.earlyDropped++;
      return;
    }
    if (u.early || !u.stt || this.#mic !== 'OPEN' || silence < at) return;
    const stt = u.stt;
    u.stt = null;
    const pass = finalPass(stt);
    u.early = pass;
    u.earlyStartedAt = this.#now();
    void pass.then((r) => {
      if (u.early !== pass) return;
      u.earlyDone = r;
      u.earlyPassMs = this.#now() - u.earlyStartedAt;
    });
  }

  #attach(u: Utterance): void {
    if (u.stt || u.early || u.replayed || this.#mic !== 'OPEN') return;
    try {
      u.stt = this.#o.stt.startUtterance(this.#o.language === undefined ? {} : { language: this.#o.language });
    } catch (err) {
      // POOL_EXHAUSTED is retryable: the audio is kept and the next frame tries again.
      if (!(err instanceof SpeechError && err.retryable)) this.#o.onSttError?.(err, u.index);
      return;
    }
    // Audio longer than an onset's preroll (after a late decoder, a dropped early pass, or MIC_SET
    // OPEN mid-utterance: up to maxUtteranceMs) is fed off this thread where the provider can: fed
    // inline it held the thread — and every other session on it — for 0.1–0.35× its length.
    if (u.stt.pushBacklog && u.frames.length * this.#frameMs > BACKLOG_OFF_THREAD_MS) u.stt.pushBacklog(u.frames);
    else for (const f of u.frames) u.stt.push(f);
    u.sincePartialMs = 0;
  }

  /**
   * At the end of an utterance that never got a decoder (more callers spoke at once than the pool
   * holds): wait for one to come back rather than drop the utterance — the caller would wait for
   * an answer that never comes (bench/load, 8 calls on 4 decoders: 1 of 24 turns lost). Bounded:
   * past the budget it ends without a final, as before. Its audio is kept, so it is decoded from
   * the onset.
   */
  async #attachWaiting(u: Utterance): Promise<void> {
    this.#attach(u);
    const budgetMs = this.#o.decoderWaitMs ?? DEFAULT_DECODER_WAIT_MS;
    for (let waited = 0; !u.stt && this.#mic === 'OPEN' && !this.#closed && waited < budgetMs; waited += DECODER_POLL_MS) {
      await new Promise((r) => setTimeout(r, DECODER_POLL_MS));
      this.#attach(u);
    }
  }

  #maybePartial(u: Utterance): void {
    if (this.#o.partialEveryMs <= 0 || !u.stt) return;
    u.sincePartialMs += this.#frameMs;
    if (u.sincePartialMs < this.#o.partialEveryMs) return;
    u.sincePartialMs = 0;
    const text = cleanTranscript(u.stt.partial());
    if (text === '' || text === u.lastPartial) return;
    if (text.split(/\s+/).length < PARTIAL_MIN_WORDS) return;
    u.lastPartial = text;
    this.#o.sink({ type: 'partial', utterance: u.index, index: u.partials++, text });
  }

  async #flushSegmenter(): Promise<void> {
    for (const ev of this.#segmenter.flush()) await this.#endUtterance(ev, 'cut');
  }

  async #endUtterance(ev: SegmenterEvent, by: 'hangover' | 'cut'): Promise<void> {
    if (ev.type === 'speech_start') return;
    const u = this.#cur;
    this.#cur = null;
    if (!u) return;
    if (u.replayed) {
      u.stt?.abort();
      return;
    }
    this.#o.sink({ type: 'speech_ended', utterance: u.index, audioMs: ev.audioMs, durationMs: ev.durationMs, endpoint: this.#endpoint(u, ev, by) });
    if (ev.type === 'speech_discarded') {
      u.stt?.abort();
      this.#o.sink({ type: 'no_final', utterance: u.index, reason: 'too_short' });
      return;
    }
    const end = { audioMs: ev.audioMs, durationMs: ev.durationMs };
    if (u.endedEarly && (this.#o.rejoinMs ?? 0) > 0) this.#rejoin = { frames: [...u.frames], untilMs: ev.audioMs + this.#o.rejoinMs! };
    if (this.#mic === 'GATED') {
      this.#lingering = { u, end, until: this.#now() + this.#o.gatedGraceMs };
      return;
    }
    await this.#finalize(u, end);
  }

  #endpoint(u: Utterance, ev: SegmenterEvent, by: 'hangover' | 'cut'): Endpoint {
    const kind = ev.type === 'speech_discarded' ? 'short' : u.endedEarly ? 'words' : by;
    const done = u.earlyDone;
    return {
      kind,
      earlyDropped: u.earlyDropped,
      ...(u.earlyPassMs === undefined ? {} : { earlyPassMs: u.earlyPassMs }),
      ...(u.early && !done ? { earlyPending: true } : {}),
      ...(done?.ok ? { readComplete: readsComplete(cleanTranscript(done.result.text)) } : {}),
    };
  }

  async #finalize(u: Utterance, end: { audioMs: number; durationMs: number }): Promise<void> {
    const t0 = this.#now();
    // Started during the hangover (earlyFinal), or now: off the event loop either way, so other
    // sessions keep being served while this one decodes.
    let pass = u.early;
    u.early = null;
    if (!pass) {
      if (!u.stt) await this.#attachWaiting(u);
      const stt = u.stt;
      if (!stt) {
        this.#o.sink({ type: 'no_final', utterance: u.index, reason: this.#mic === 'OPEN' ? 'no_decoder' : 'gated' });
        return;
      }
      u.stt = null;
      pass = finalPass(stt);
    }
    const outcome = await pass;
    if (!outcome.ok) {
      this.#o.onSttError?.(outcome.err, u.index);
      this.#o.sink({ type: 'no_final', utterance: u.index, reason: 'stt_error' });
      return;
    }
    const result = outcome.result;
    const text = cleanTranscript(result.text);
    if (text === '') {
      this.#o.sink({ type: 'no_final', utterance: u.index, reason: 'empty' });
      return;
    }
    this.#o.sink({
      type: 'final',
      utterance: u.index,
      text,
      confidence: result.confidence,
      speechEndedAudioMs: end.audioMs,
      decodeMs: this.#now() - t0,
    });
  }
}
