import { EventType, SpeakKind } from '@switchboard/contracts';
import { callEnd, micSet, playbackFlush, ragQuery, ttsCancel, ttsSpeak } from './effects';
import { liveTurnId } from './session-state';
import type { MicContract, EntryEffect } from './states';
import { cancelFiller, cancelLiveWork, closeTurn, dropUtterance } from './step';
import type { Step } from './step';

/** Timer ids are `<kind>:<seq>`: deterministic, and unique because stream sequences are. */
export function timerId(kind: string, seq: number): string {
  return `${kind}:${seq}`;
}

function setMic(step: Step, mic: MicContract): void {
  if (step.s.mic === mic) return;
  step.s.mic = mic;
  step.effects.push(...micSet(mic, step.reason ?? `enter_${step.s.state.toLowerCase()}`, liveTurnId(step.s) ?? ''));
}

/** What each named entry effect does. Effects that find nothing to act on emit nothing. */
export const ENTRY_EFFECTS: Readonly<Record<EntryEffect, (step: Step) => void>> = {
  set_mic_open: (step) => setMic(step, 'OPEN'),
  set_mic_gated: (step) => setMic(step, 'GATED'),
  set_mic_closed: (step) => setMic(step, 'CLOSED'),

  // Not while the caller is talking (barge-in by speech): SPEECH_ENDED arms it instead.
  arm_no_input: ({ s, e, ctx }) => {
    if (e.eventType === EventType.SPEECH_STARTED) return;
    s.timers.noInput = { id: timerId('no_input', ctx.seq), deadline: ctx.now + ctx.config.noInputMs };
  },

  query_rag: ({ s, ctx, effects }) => {
    const turn = s.turn;
    if (!turn) return;
    effects.push(
      ragQuery({
        turnId: turn.turnId,
        text: turn.userText,
        skipIntent: ctx.config.skipIntent,
        history: s.history.map((h) => ({ ...h, sourceIds: [...h.sourceIds] })),
        language: s.language,
        deadline: ctx.now + ctx.config.turnTimeoutMs,
      }),
    );
  },

  arm_filler: ({ s, ctx }) => {
    s.timers.filler = { id: timerId('filler', ctx.seq), deadline: ctx.now + ctx.config.fillerAfterMs };
  },

  arm_turn_timeout: ({ s, ctx }) => {
    s.timers.turnTimeout = { id: timerId('turn_timeout', ctx.seq), deadline: ctx.now + ctx.config.turnTimeoutMs };
  },

  cancel_filler: (step) => cancelFiller(step, step.reason ?? 'cancelled'),

  speak: ({ s, effects }) => {
    const out = s.out;
    if (!out) return;
    effects.push(
      ttsSpeak({
        turnId: out.turnId,
        speakId: out.speakId,
        text: out.text,
        kind: out.kind === 'answer' ? SpeakKind.SPEAK_KIND_ANSWER : SpeakKind.SPEAK_KIND_PROMPT,
        cacheKey: out.cacheKey ?? '',
        language: s.language,
      }),
    );
  },

  // Re-armed with the real audio length on TTS_DONE; this first deadline covers a lost tts worker.
  arm_playback_timeout: ({ s, ctx }) => {
    s.timers.playbackTimeout = { id: timerId('playback_timeout', ctx.seq), deadline: ctx.now + ctx.config.speakTimeoutMs };
  },

  cancel_tts: (step) => {
    const out = step.s.out;
    if (out) step.effects.push(ttsCancel(out.turnId, '', step.reason ?? 'interrupted'));
  },

  flush_playback: (step) => {
    const out = step.s.out;
    if (out) step.effects.push(playbackFlush(out.turnId, step.reason ?? 'interrupted', step.ctx.config.flushFadeMs));
  },

  close_turn: (step) => {
    closeTurn(step, 'cancelled', step.reason ?? 'interrupted');
    dropUtterance(step, false);
  },

  cancel_turn: (step) => cancelLiveWork(step, step.reason ?? 'call_ended', 'cancelled'),

  clear_timers: ({ s }) => {
    s.timers = {};
  },

  end_call: ({ s, effects }) => {
    if (s.end?.by === 'agent') effects.push(callEnd(s.end.reason));
  },
};
