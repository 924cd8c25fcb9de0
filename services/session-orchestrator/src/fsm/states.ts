/**
 * The states of a session and the contract each one keeps: what the microphone and playback
 * are doing while in it, and the ordered effects run on entering it. The reducer applies the
 * entry list mechanically (entry-effects.ts), so this file is the place to read what entering
 * a state does.
 */
export type SessionStateName = 'IDLE' | 'LISTENING' | 'THINKING' | 'SPEAKING' | 'INTERRUPT' | 'ENDED';

export const SESSION_STATES: readonly SessionStateName[] = ['IDLE', 'LISTENING', 'THINKING', 'SPEAKING', 'INTERRUPT', 'ENDED'];

/** OPEN: audio is taken as turns. GATED: audio reaches VAD (barge-in) but opens no turn. */
export type MicContract = 'OPEN' | 'GATED' | 'CLOSED';
export type PlaybackContract = 'STOPPED' | 'STREAMING';

/**
 * Entry effects, in the order they run. Mic changes emit MIC_SET to gateway and stt only when
 * the mic actually changes; the cancel_* effects emit nothing when there is nothing to cancel;
 * arm_* only write a deadline into state (the shell owns the real timer, see nextDeadline).
 */
export type EntryEffect =
  | 'set_mic_open'
  | 'set_mic_gated'
  | 'set_mic_closed'
  | 'arm_no_input'
  | 'query_rag'
  | 'arm_filler'
  | 'arm_turn_timeout'
  | 'cancel_filler'
  | 'speak'
  | 'arm_playback_timeout'
  | 'cancel_tts'
  | 'flush_playback'
  | 'close_turn'
  | 'cancel_turn'
  | 'clear_timers'
  | 'end_call';

export interface StateContract {
  mic: MicContract;
  playback: PlaybackContract;
  entry: readonly EntryEffect[];
  /** Transient states pass on to this state within the same reduce (both transitions recorded). */
  then?: SessionStateName;
}

export const STATE_CONTRACTS: Readonly<Record<SessionStateName, StateContract>> = {
  IDLE: { mic: 'CLOSED', playback: 'STOPPED', entry: [] },
  LISTENING: { mic: 'OPEN', playback: 'STOPPED', entry: ['set_mic_open', 'arm_no_input'] },
  // The filler, when it plays, streams while THINKING: it is a courtesy, not the state's output.
  THINKING: { mic: 'OPEN', playback: 'STOPPED', entry: ['set_mic_open', 'query_rag', 'arm_filler', 'arm_turn_timeout'] },
  SPEAKING: { mic: 'GATED', playback: 'STREAMING', entry: ['cancel_filler', 'set_mic_gated', 'speak', 'arm_playback_timeout'] },
  // close_turn is bookkeeping (no command): the interrupted turn is remembered as cancelled.
  INTERRUPT: { mic: 'GATED', playback: 'STOPPED', entry: ['cancel_tts', 'flush_playback', 'cancel_filler', 'close_turn'], then: 'LISTENING' },
  ENDED: { mic: 'CLOSED', playback: 'STOPPED', entry: ['cancel_turn', 'clear_timers', 'set_mic_closed', 'end_call'] },
};

/** One glyph per state so a log line reads at a glance: "🟢 LISTENING → 🤔 THINKING". */
export const STATE_MARKERS: Readonly<Record<SessionStateName, string>> = {
  IDLE: '⚪',
  LISTENING: '🟢',
  THINKING: '🤔',
  SPEAKING: '🔊',
  INTERRUPT: '✋',
  ENDED: '🔴',
};

export function isSessionStateName(value: unknown): value is SessionStateName {
  return typeof value === 'string' && (SESSION_STATES as readonly string[]).includes(value);
}
