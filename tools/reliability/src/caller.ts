// SyntheticCaller: drives many sessions through the bus as the gateway/stt-adapter would (events,
// no browser), following a seeded script of utterances, pauses and interruptions, and — when
// those services are not running — stands in for the workers: answers RAG_QUERY with
// RAG_ANSWER_READY and TTS_SPEAK with TTS_STARTED/PLAYBACK_STARTED/TTS_DONE/PLAYBACK_DONE.
// Every event id is deterministic (derived from the session/step or from the command id), so a
// retried publish is deduplicated by the stream, exactly like the real services do it.
import type { Bus } from '@switchboard/bus';
import { MicState, SpeakKind, makeEvent, type Command, type EventTypeName } from '@switchboard/contracts';
import type { RecordedCommand } from './history';
import type { HistoryRecorder } from './recorder';
import { supersedingText, type ScriptStep, type SessionScript } from './script';

export interface SyntheticCallerOptions {
  bus: Bus;
  recorder: HistoryRecorder;
  scripts: readonly SessionScript[];
  /** which workers the caller stands in for (default both) */
  standIn?: { rag?: boolean; tts?: boolean };
  /** delay between TTS_STARTED and TTS_DONE/PLAYBACK_DONE of a stand-in utterance */
  playMs?: number;
  /** a publish is retried (same id) until acknowledged, within this budget */
  publishBudgetMs?: number;
  /** space CALL_STARTED publishes of the sessions by this much */
  startSpacingMs?: number;
  onError?: (err: Error) => void;
  /** says a step of an audio script as real speech (the stt-adapter turns it into events) */
  speak?: (sessionId: string, step: ScriptStep, index: number) => Promise<void>;
}

interface Live {
  script: SessionScript;
  /** MIC_SET OPEN commands seen: the k-th one means "listening, ready for step k-1" */
  opens: number;
  /** index of the step being played, -1 before the first */
  step: number;
  finished: boolean;
  superseded: Set<number>;
  bargedIn: Set<number>;
  /** turn id → the user text it answers (from RAG_QUERY) */
  turnText: Map<string, string>;
  /**
   * Answers seen before their turn's RAG_QUERY: the command streams are followed by separate
   * consumers, so a TTS_SPEAK can reach the caller first (a 100-kill run: RAG_QUERY 1.25 s late,
   * the caller did not know the answer was its barge-in step's and never interrupted it).
   */
  speaksBeforeQuery: Map<string, Command[]>;
  cancelledTurns: Set<string>;
  chain: Promise<void>;
  lastProgressAt: number;
}

export class SyntheticCaller {
  readonly #o: Required<Omit<SyntheticCallerOptions, 'onError' | 'standIn' | 'speak'>> & {
    standIn: { rag: boolean; tts: boolean };
    onError: (err: Error) => void;
    speak: SyntheticCallerOptions['speak'];
  };
  readonly #live = new Map<string, Live>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  #resolveDone: (() => void) | undefined;
  readonly #done: Promise<void>;
  readonly errors: Error[] = [];
  publishRetries = 0;

  constructor(opts: SyntheticCallerOptions) {
    this.#o = {
      bus: opts.bus,
      recorder: opts.recorder,
      scripts: opts.scripts,
      standIn: { rag: opts.standIn?.rag ?? true, tts: opts.standIn?.tts ?? true },
      playMs: opts.playMs ?? 20,
      publishBudgetMs: opts.publishBudgetMs ?? 60_000,
      startSpacingMs: opts.startSpacingMs ?? 0,
      onError: opts.onError ?? (() => undefined),
      speak: opts.speak,
    };
    this.#done = new Promise((r) => (this.#resolveDone = r));
    for (const script of opts.scripts) {
      this.#live.set(script.sessionId, {
        script,
        opens: 0,
        step: -1,
        finished: false,
        superseded: new Set(),
        bargedIn: new Set(),
        turnText: new Map(),
        speaksBeforeQuery: new Map(),
        cancelledTurns: new Set(),
        chain: Promise.resolve(),
        lastProgressAt: Date.now(),
      });
    }
    opts.recorder.onCommand((c) => this.#onCommand(c));
  }

  /** Starts every call (CALL_STARTED); the rest is driven by the commands the caller observes. */
  async start(): Promise<void> {
    for (const live of this.#live.values()) {
      const sid = live.script.sessionId;
      this.#enqueue(live, () => this.#emit(sid, 'CALL_STARTED', `${sid}:start`, {}, ''));
      if (this.#o.startSpacingMs > 0) await sleep(this.#o.startSpacingMs);
    }
    if (this.#live.size === 0) this.#resolveDone?.();
  }

  /** Resolves when every session has played its whole script. */
  done(): Promise<void> {
    return this.#done;
  }

  finishedCount(): number {
    return [...this.#live.values()].filter((l) => l.finished).length;
  }

  /** Sessions not done yet, with where they are (for failure messages). */
  unfinished(): Array<{ sessionId: string; step: number; opens: number; idleMs: number }> {
    const now = Date.now();
    return [...this.#live.values()].filter((l) => !l.finished).map((l) => ({ sessionId: l.script.sessionId, step: l.step, opens: l.opens, idleMs: now - l.lastProgressAt }));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #later(ms: number, fn: () => void): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#stopped) fn();
    }, ms);
    this.#timers.add(t);
  }

  /** A session's publishes go out one at a time, in the order the caller decided them. */
  #enqueue(live: Live, fn: () => Promise<void>): void {
    live.chain = live.chain.then(fn).catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      this.errors.push(e);
      this.#o.onError(e);
    });
  }

  async #emit(sessionId: string, type: EventTypeName, eventId: string, payload: Record<string, unknown>, correlationId: string): Promise<void> {
    const ev = makeEvent(type, { sessionId, source: 'synthetic-caller', eventId, correlationId }, payload as never);
    const firstTryAt = Date.now();
    const until = firstTryAt + this.#o.publishBudgetMs;
    for (let attempt = 1; ; attempt++) {
      if (this.#stopped) return;
      try {
        const ack = await this.#o.bus.publishEvent(ev);
        this.#o.recorder.notePublished({ eventId, sessionId, eventType: type, at: Date.now(), seq: ack.seq, duplicate: ack.duplicate, firstTryAt, attempts: attempt });
        return;
      } catch (err) {
        // The server is restarting or a node is gone: the same id again is harmless (dedup).
        if (Date.now() > until) throw new Error(`publish ${type} ${eventId} not acknowledged within ${this.#o.publishBudgetMs} ms: ${(err as Error).message}`);
        this.publishRetries++;
        await sleep(Math.min(1000, 50 * attempt));
      }
    }
  }

  #onCommand(rc: RecordedCommand): void {
    const c = rc.command;
    const live = this.#live.get(c.sessionId);
    if (!live || this.#stopped) return;
    live.lastProgressAt = Date.now();
    if (rc.target === 'gateway' && c.micSet?.state === MicState.MIC_STATE_OPEN) {
      // An OPEN after a barge-in the caller did not make is not "ready for the next step": it is a
      // superseding final that lost the race to the answer and cut it like a barge-in (its new
      // turn's playback ends with the OPEN that counts). Counted, it put the caller one step ahead
      // for the rest of the call, talking over every answer.
      if (c.micSet.reason === 'barge_in' && !live.bargedIn.has(live.step)) return;
      this.#onListening(live);
    }
    else if (rc.target === 'rag' && c.ragQuery) this.#onQuery(live, c);
    else if (rc.target === 'rag' && c.ragCancel) live.cancelledTurns.add(c.ragCancel.turnId);
    else if (rc.target === 'tts' && c.ttsCancel) live.cancelledTurns.add(c.ttsCancel.turnId);
    else if (rc.target === 'tts' && c.ttsSpeak) this.#onSpeak(live, c);
  }

  /** Back in LISTENING: say the next step after its pause, or finish (and maybe hang up). */
  #onListening(live: Live): void {
    live.opens++;
    const next = live.opens - 1;
    const sid = live.script.sessionId;
    if (next < live.script.steps.length) {
      if (next <= live.step) return; // an extra OPEN (a duplicate command): the checker reports it
      live.step = next;
      const step = live.script.steps[next]!;
      const speak = this.#o.speak;
      if (live.script.audio && speak) {
        this.#later(step.pauseBeforeMs, () => this.#enqueue(live, () => speak(sid, step, next)));
        return;
      }
      this.#later(step.pauseBeforeMs, () =>
        this.#enqueue(live, async () => {
          await this.#emit(sid, 'SPEECH_STARTED', `${sid}:u${next}:ss`, { audioMs: 0 }, '');
          await this.#emit(sid, 'SPEECH_ENDED', `${sid}:u${next}:se`, { audioMs: 800, durationMs: 800 }, '');
          await this.#emit(sid, 'STT_FINAL', `${sid}:u${next}:final`, { text: step.utterance, isFinal: true }, '');
        }),
      );
      return;
    }
    if (live.finished) return;
    if (live.script.hangUp) {
      this.#enqueue(live, async () => {
        await this.#emit(sid, 'CALL_ENDED', `${sid}:hangup`, { reason: 'caller_hangup' }, '');
        this.#finish(live);
      });
    } else this.#finish(live);
  }

  #finish(live: Live): void {
    if (live.finished) return;
    live.finished = true;
    if (this.finishedCount() === this.#live.size) this.#resolveDone?.();
  }

  #onQuery(live: Live, c: Command): void {
    const q = c.ragQuery!;
    const sid = live.script.sessionId;
    live.turnText.set(q.turnId, q.text);
    const early = live.speaksBeforeQuery.get(q.turnId);
    if (early) {
      live.speaksBeforeQuery.delete(q.turnId);
      for (const speak of early) this.#onSpeak(live, speak);
    }
    const i = live.step;
    const step = live.script.steps[i];
    if (step && step.interrupt === 'supersede' && q.text === step.utterance && !live.superseded.has(i)) {
      // The caller goes on talking while the agent thinks: the first turn is cancelled, and
      // its answer (published right after, late) must never be spoken.
      live.superseded.add(i);
      this.#enqueue(live, () => this.#emit(sid, 'STT_FINAL', `${sid}:u${i}:final2`, { text: supersedingText(step), isFinal: true }, ''));
    }
    if (!this.#o.standIn.rag) return;
    this.#enqueue(live, () =>
      this.#emit(sid, 'RAG_ANSWER_READY', `${c.commandId}:ready`, { turnId: q.turnId, text: `answer to ${q.text}`, intent: 'faq_question', confidence: 0.9 }, q.turnId),
    );
  }

  #onSpeak(live: Live, c: Command): void {
    const s = c.ttsSpeak!;
    const sid = live.script.sessionId;
    const i = live.step;
    const step = live.script.steps[i];
    const isAnswer = s.kind === SpeakKind.SPEAK_KIND_ANSWER;
    if (isAnswer && !live.turnText.has(s.turnId)) {
      live.speaksBeforeQuery.set(s.turnId, [...(live.speaksBeforeQuery.get(s.turnId) ?? []), c]);
      return;
    }
    const bargeIn = isAnswer && step?.interrupt === 'barge_in' && live.turnText.get(s.turnId) === step.utterance && !live.bargedIn.has(i);
    if (this.#o.standIn.tts) {
      this.#enqueue(live, async () => {
        await this.#emit(sid, 'TTS_STARTED', `${c.commandId}:started`, { turnId: s.turnId, speakId: s.speakId, timeToFirstAudioMs: 5 }, s.turnId);
        await this.#emit(sid, 'PLAYBACK_STARTED', `${c.commandId}:pstarted`, { turnId: s.turnId, speakId: s.speakId }, s.turnId);
      });
    }
    if (bargeIn) {
      // The caller talks over the answer; the stand-in tts never finishes it (it is cancelled).
      live.bargedIn.add(i);
      this.#enqueue(live, () => this.#emit(sid, 'SPEECH_STARTED', `${sid}:u${i}:barge`, { audioMs: 0 }, ''));
      return;
    }
    if (!this.#o.standIn.tts) return;
    this.#later(this.#o.playMs, () =>
      this.#enqueue(live, async () => {
        if (live.cancelledTurns.has(s.turnId)) return;
        await this.#emit(sid, 'TTS_DONE', `${c.commandId}:done`, { turnId: s.turnId, speakId: s.speakId, audioMs: this.#o.playMs }, s.turnId);
        await this.#emit(sid, 'PLAYBACK_DONE', `${c.commandId}:pdone`, { turnId: s.turnId, speakId: s.speakId, durationMs: this.#o.playMs }, s.turnId);
      }),
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
