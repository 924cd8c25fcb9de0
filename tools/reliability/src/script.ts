// Caller scripts: per session, what the caller says, how long it pauses first, and how it
// interrupts. A script is data (the checker reads the same object to know what to expect).
import { createRng, type Rng } from './prng';

/**
 * - none: the caller waits for the answer to play out;
 * - barge_in: the caller starts talking while the answer plays (SPEECH_STARTED in SPEAKING);
 * - supersede: the caller says something else while the agent is thinking (a second STT_FINAL),
 *   so the first turn is cancelled and its (late) answer must never be spoken.
 */
export type Interrupt = 'none' | 'barge_in' | 'supersede';

export interface ScriptStep {
  utterance: string;
  pauseBeforeMs: number;
  interrupt: Interrupt;
}

export interface SessionScript {
  sessionId: string;
  steps: ScriptStep[];
  /** the caller hangs up (CALL_ENDED) after the last step */
  hangUp: boolean;
  /** spoken as real audio (the stt-adapter transcribes it): query texts are the recogniser's, not the script's */
  audio?: boolean;
}

export interface ScriptOptions {
  sessions: number;
  steps?: number | [min: number, max: number];
  pauseMs?: [min: number, max: number];
  bargeInRate?: number;
  supersedeRate?: number;
  hangUpRate?: number;
  /** words utterances are drawn from (default WORDS) */
  words?: readonly string[];
}

export const WORDS: readonly string[] = ['where', 'is', 'my', 'order', 'reset', 'password', 'refund', 'invoice', 'talk', 'to', 'agent', 'delivery', 'address', 'change', 'plan', 'cancel'];

/**
 * WORDS without the ones a real rag-worker hears as "talk to a human" ('talk', 'agent'): that
 * intent escalates and the orchestrator ends the call, so a script using them could never be
 * played to its end (found by the pipeline run: a session ENDED after "s1 u1 talk to", 3 turns
 * "lost"). Same length as WORDS, so a seed draws the same script shape.
 */
export const NON_ESCALATING_WORDS: readonly string[] = WORDS.map((w) => (w === 'talk' ? 'account' : w === 'agent' ? 'billing' : w));

/** The text the caller says after a supersede (the second utterance of the same step). */
export function supersedingText(step: ScriptStep): string {
  return `${step.utterance} — no wait, something else`;
}

/** The user texts the orchestrator must query, in order, for one script. */
export function expectedQueries(script: SessionScript): string[] {
  return script.steps.flatMap((s) => (s.interrupt === 'supersede' ? [s.utterance, supersedingText(s)] : [s.utterance]));
}

export function makeScripts(seed: number, opts: ScriptOptions): SessionScript[] {
  const rng = createRng(seed);
  return Array.from({ length: opts.sessions }, (_, i) => makeScript(rng, i, opts));
}

function makeScript(rng: Rng, index: number, opts: ScriptOptions): SessionScript {
  const [minSteps, maxSteps] = Array.isArray(opts.steps) ? opts.steps : [opts.steps ?? 3, opts.steps ?? 3];
  const [minPause, maxPause] = opts.pauseMs ?? [0, 200];
  const n = rng.int(minSteps, maxSteps);
  const sessionId = seededSessionId(rng);
  const steps: ScriptStep[] = [];
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: rng.int(2, 6) }, () => rng.pick(opts.words ?? WORDS)).join(' ');
    const r = rng.next();
    const interrupt: Interrupt = r < (opts.bargeInRate ?? 0.2) ? 'barge_in' : r < (opts.bargeInRate ?? 0.2) + (opts.supersedeRate ?? 0.1) ? 'supersede' : 'none';
    steps.push({ utterance: `s${index} u${i} ${words}`, pauseBeforeMs: rng.int(minPause, maxPause), interrupt });
  }
  return { sessionId, steps, hangUp: rng.chance(opts.hangUpRate ?? 0.2) };
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A valid `ses_<ULID>` drawn from the seed, so a replayed run uses the same ids (and partitions). */
export function seededSessionId(rng: Rng): string {
  let id = 'ses_0';
  for (let i = 0; i < 25; i++) id += CROCKFORD[rng.int(0, 31)];
  return id;
}
