import { EventType, SpeakKind } from '@switchboard/contracts';
import { playbackFlush, ttsCancel, ttsSpeak } from './effects';
import { timerId } from './entry-effects';
import type { TimerName, Utterance } from './session-state';
import { cancelLiveWork, closeTurn, dropUtterance, log } from './step';
import type { Step } from './step';

/** A named condition on a transition; the name is what a rejection reports. */
export interface Guard {
  name: string;
  test: (step: Step) => boolean;
}

export type Action = (step: Step) => void;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

// ---------------------------------------------------------------------------------- guards

export const guards = {
  /** A turn needs words: partial or blank finals open nothing. */
  nonEmptyFinal: {
    name: 'final_has_text',
    test: ({ e }) => e.sttFinal?.isFinal === true && str(e.sttFinal.text).trim() !== '',
  },
  /** SPEAKING an answer needs answer text. */
  nonEmptyAnswer: {
    name: 'answer_has_text',
    test: ({ e }) => str(e.ragAnswerReady?.text).trim() !== '',
  },
  isOutUtterance: {
    name: 'is_current_utterance',
    test: ({ s, e }) => s.out !== undefined && str(e.playbackDone?.speakId) === s.out.speakId,
  },
  escalating: {
    name: 'escalation_pending',
    test: ({ s }) => s.out?.escalate === true,
  },
  /** Worker failures (rag) of the live turn; a tts error in THINKING is the filler's and is only noted. */
  turnWorkerError: {
    name: 'live_turn_worker_error',
    test: ({ s, e, eventTurnId }) => s.turn !== undefined && eventTurnId === s.turn.turnId && str(e.error?.stage) !== 'tts',
  },
  outTtsError: {
    name: 'tts_error_of_current_utterance',
    test: ({ s, e, eventTurnId }) => s.out !== undefined && eventTurnId === s.out.turnId && str(e.error?.stage) === 'tts',
  },
  noInputLimitReached: {
    name: 'no_input_limit_reached',
    test: ({ s, ctx, timer }) => timer === 'noInput' && s.noInputCount + 1 >= ctx.config.maxNoInput,
  },
} satisfies Record<string, Guard>;

export function timerIs(name: TimerName): Guard {
  return { name: `timer_is_${name}`, test: (step) => step.timer === name };
}

// --------------------------------------------------------------------------------- helpers

function prompt(step: Step, cacheKey: string, text: string): Utterance {
  // A prompt is not a user turn, but its audio needs a turn id of its own: the gateway drops
  // frames by turn id, and late events of the prompt must not match a later turn.
  const turnId = `turn_${step.ctx.seq}`;
  return { kind: 'prompt', turnId, speakId: `${turnId}:prompt`, text, cacheKey };
}

// --------------------------------------------------------------------------------- actions

/** The turn cannot produce an answer (error, timeout, empty answer): say sorry, then listen. */
export function apologise(reason: string): Action {
  return (step) => {
    cancelLiveWork(step, reason, 'failed');
    step.s.out = prompt(step, 'apology', step.ctx.config.prompts.apology);
    step.reason = reason;
  };
}

export const actions = {
  callStarted: ({ s, e }) => {
    s.language = str(e.callStarted?.language);
  },

  callEnded: (step) => {
    step.s.end = { reason: str(step.e.callEnded?.reason) || 'hangup', by: 'caller', at: step.ctx.now };
    step.reason = 'call_ended';
  },

  escalationEnd: (step) => {
    step.s.end = { reason: 'escalated', by: 'agent', at: step.ctx.now };
    step.reason = 'escalated';
  },

  /** Caller started talking: not silent any more; a new utterance starts its own speech-end mark. */
  speechStarted: ({ s }) => {
    delete s.timers.noInput;
    delete s.pendingSpeechEndedAt;
  },

  /** Remember when speech ended (the stt stage starts here); in LISTENING the silence clock restarts. */
  speechEnded: ({ s, e, ctx }) => {
    s.pendingSpeechEndedAt = num(e.timestamp);
    if (s.state === 'LISTENING') {
      s.timers.noInput = { id: timerId('no_input', ctx.seq), deadline: ctx.now + ctx.config.noInputMs };
    }
  },

  /** Opens the one live turn, cancelling the previous one FIRST (superseded). */
  openTurn: (step) => {
    const { s, e, ctx } = step;
    if (s.turn || s.out) cancelLiveWork(step, 'superseded', 'cancelled');
    const text = str(e.sttFinal?.text).trim();
    const turnId = `turn_${ctx.seq}`;
    const finalAt = num(e.timestamp);
    const decodeMs = num(e.sttFinal?.decodeMs);
    const speechEnded = s.pendingSpeechEndedAt ?? (decodeMs > 0 ? finalAt - decodeMs : undefined);
    s.turn = {
      turnId,
      openedSeq: ctx.seq,
      startedAt: ctx.now,
      userText: text,
      marks: speechEnded !== undefined ? { speechEnded, final: finalAt } : { final: finalAt },
    };
    delete s.pendingSpeechEndedAt;
    if (str(e.sttFinal?.language)) s.language = str(e.sttFinal?.language);
    s.noInputCount = 0;
    s.counters.turns += 1;
    step.reason = 'new_turn';
    log(step, 'info', 'turn opened', { turnId, transcript: text });
  },

  intent: ({ s, e }) => {
    if (!s.turn) return;
    s.turn.intent = str(e.intentDetected?.intent);
    s.turn.marks.intent ??= num(e.timestamp);
  },

  answerPartial: ({ s, e }) => {
    if (s.turn) s.turn.marks.firstPartial ??= num(e.timestamp);
  },

  answerReady: (step) => {
    const { s, e } = step;
    const turn = s.turn;
    const r = e.ragAnswerReady;
    if (!turn || !r) return;
    turn.answerText = str(r.text).trim();
    turn.answerSpeakId = `${turn.turnId}:answer`;
    if (str(r.intent)) turn.intent = str(r.intent);
    turn.sourceIds = Array.isArray(r.sourceIds) ? r.sourceIds.filter((x) => typeof x === 'string').slice(0, 16) : [];
    turn.marks.answer = num(e.timestamp);
    turn.marks.firstPartial ??= num(e.timestamp);
    if (r.escalate === true) turn.escalate = true;
    s.out = { kind: 'answer', turnId: turn.turnId, speakId: turn.answerSpeakId, text: turn.answerText };
    if (turn.escalate) s.out.escalate = true;
    step.reason = 'answer_ready';
  },

  filler: (step) => {
    const { s, ctx, effects } = step;
    delete s.timers.filler;
    const turn = s.turn;
    if (!turn) return;
    turn.fillerSpeakId = `${turn.turnId}:filler`;
    turn.filler = 'requested';
    effects.push(
      ttsSpeak({
        turnId: turn.turnId,
        speakId: turn.fillerSpeakId,
        text: ctx.config.prompts.filler,
        kind: SpeakKind.SPEAK_KIND_FILLER,
        cacheKey: 'filler',
        language: s.language,
      }),
    );
    log(step, 'info', 'filler', { turnId: turn.turnId, afterMs: ctx.now - turn.startedAt });
  },

  ttsStarted: ({ s, e }) => {
    if (s.turn && s.out?.kind === 'answer' && str(e.ttsStarted?.speakId) === s.out.speakId) {
      s.turn.marks.ttsStarted ??= num(e.timestamp);
    }
  },

  /** TTS knows how long the audio is: PLAYBACK_DONE must come within that plus a grace. */
  ttsDone: ({ s, e, ctx }) => {
    if (!s.out || str(e.ttsDone?.speakId) !== s.out.speakId) return;
    s.timers.playbackTimeout = {
      id: timerId('playback_timeout', ctx.seq),
      deadline: ctx.now + Math.max(num(e.ttsDone?.audioMs), 0) + ctx.config.playbackGraceMs,
    };
  },

  playbackStarted: ({ s, e }) => {
    if (s.turn && s.out?.kind === 'answer' && str(e.playbackStarted?.speakId) === s.out.speakId) {
      s.turn.marks.playbackStarted ??= num(e.timestamp);
    }
  },

  /** A playback that is not the current utterance (the filler, in practice) finished. */
  otherPlaybackDone: ({ s, e }) => {
    if (s.turn?.fillerSpeakId && str(e.playbackDone?.speakId) === s.turn.fillerSpeakId && s.turn.filler === 'requested') {
      s.turn.filler = 'done';
    }
  },

  /** The current utterance has played out (PLAYBACK_DONE, or its deadline passed). */
  utteranceDone: (step) => {
    const { s, e, ctx } = step;
    const byTimeout = step.timer === 'playbackTimeout';
    if (byTimeout) log(step, 'warn', 'playback_timeout', { turnId: s.out?.turnId, speakId: s.out?.speakId });
    const escalate = s.out?.escalate === true;
    if (s.turn && s.out?.kind === 'answer') {
      s.turn.marks.playbackDone = byTimeout ? ctx.now : num(e.timestamp);
      closeTurn(step, 'completed', byTimeout ? 'playback_timeout' : 'playback_done');
    }
    dropUtterance(step, true);
    step.reason = byTimeout ? 'playback_timeout' : 'playback_done';
    if (escalate) {
      s.end = { reason: 'escalated', by: 'agent', at: ctx.now };
      step.reason = 'escalated';
    }
  },

  bargeIn: (step) => {
    const { s, e } = step;
    s.counters.bargeIns += 1;
    step.reason = 'barge_in';
    // The interrupting utterance starts now; an older speech end must not become its mark.
    if (e.eventType === EventType.SPEECH_STARTED) delete s.pendingSpeechEndedAt;
    log(step, 'info', 'barge-in', {
      turnId: s.out?.turnId,
      speakId: s.out?.speakId,
      via: e.eventType,
      cause: str(e.bargeIn?.reason) || 'speech_onset',
    });
  },

  /** Speaking failed mid-way: stop what is queued, free the line, listen again. */
  ttsFailed: (step) => {
    const { s, ctx, effects } = step;
    step.reason = 'tts_error';
    if (s.out) {
      effects.push(ttsCancel(s.out.turnId, '', 'tts_error'), playbackFlush(s.out.turnId, 'tts_error', ctx.config.flushFadeMs));
    }
    closeTurn(step, 'failed', 'tts_error');
    dropUtterance(step, false);
  },

  noInputPrompt: (step) => {
    const { s, ctx } = step;
    s.noInputCount += 1;
    s.out = prompt(step, 'no_input', ctx.config.prompts.noInput);
    step.reason = 'no_input';
    log(step, 'info', 'no input', { count: s.noInputCount, max: ctx.config.maxNoInput });
  },

  noInputHangUp: (step) => {
    const { s, ctx } = step;
    s.noInputCount += 1;
    s.end = { reason: 'no_input', by: 'agent', at: ctx.now };
    step.reason = 'no_input';
    log(step, 'info', 'no input: hanging up', { count: s.noInputCount, max: ctx.config.maxNoInput });
  },

  /** Escalation while an answer plays: let it finish, then end the call. */
  markEscalate: ({ s }) => {
    if (s.out) s.out.escalate = true;
    if (s.turn) s.turn.escalate = true;
  },
} satisfies Record<string, Action>;
