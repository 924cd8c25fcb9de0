// What a session's agent-audio stream already holds, read from the stream itself (the last frame
// on `voice.audio.out.<sessionId>`, a direct "last message on subject" read): it is the one truth
// every replica shares, so it orders a session's utterances across replicas and lets a speak
// redelivered to another replica (its first replica died mid-utterance) continue after the last
// frame that went out instead of speaking it again from the start.
import { STREAMS, decodeAudioFrame, decodeEvent, subjects } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { ttsStartedId } from './events';
import { sleep } from './stream';

export interface LastFrame {
  readonly turnId: string;
  readonly speakId: string;
  readonly seq: number;
  readonly last: boolean;
  /** Unix ms the frame was published. */
  readonly capturedAt: number;
}

export type ReadLastFrame = (sessionId: string) => Promise<LastFrame | undefined>;

/** The session's last frame; a failed read rejects (it is not "no frame yet"). */
export function strictLastFrameReader(bus: Bus): ReadLastFrame {
  return async (sessionId) => {
    const m = await bus.jsm.streams.getMessage(STREAMS.audioOut, { last_by_subj: subjects.audioOut(sessionId) });
    if (!m) return undefined;
    const f = decodeAudioFrame(m.data);
    return { turnId: f.turnId, speakId: f.speakId, seq: f.seq, last: f.last, capturedAt: Number(f.capturedAt) };
  };
}

/**
 * Where a redelivered speak starts, from the session's last frame:
 *  - `from`: the first frame not yet out (0 when none of this utterance went out);
 *  - `done`: its last frame already went out (the first replica finished; only the ack was lost);
 *  - `superseded`: a later utterance of the session has spoken since: this one is over;
 *  - `unknown`: it started (its TTS_STARTED is the session's latest) but no frame can be read —
 *    they aged out of the audio stream (max age 10 s, a speak may be spoken up to
 *    TTS_SPEAK_MAX_AGE_MS late) or the read failed: speaking it from frame 0 would repeat audio
 *    the caller already heard (found by the 100-kill pipeline run: frames 0–33 sent twice), so it
 *    is reported cut instead. `last` is 'unreadable' when the read failed.
 */
export type Resume = { readonly from: number } | { readonly done: true } | { readonly superseded: true } | { readonly unknown: true };

export function resumeOf(last: LastFrame | undefined | 'unreadable', speakId: string, startedBefore: boolean): Resume {
  if (!last || last === 'unreadable') return startedBefore ? { unknown: true } : { from: 0 };
  if (last.speakId === speakId) return last.last ? { done: true } : { from: last.seq + 1 };
  // Another utterance's frames are the latest: if this one had started, it was cut since.
  return startedBefore ? { superseded: true } : { from: 0 };
}

/** Whether the session's latest TTS_STARTED is this speak's (id `<commandId>:started`). */
export function startedReader(bus: Bus): (sessionId: string, commandId: string) => Promise<boolean> {
  return async (sessionId, commandId) => {
    try {
      const m = await bus.jsm.streams.getMessage(STREAMS.events, { last_by_subj: subjects.event(sessionId, 'TTS_STARTED', bus.partitions) });
      return m ? decodeEvent(m.data).eventId === ttsStartedId(commandId) : false;
    } catch {
      return false;
    }
  };
}

export interface TurnToSpeakOptions {
  /** Another utterance whose frames stopped this long ago (no last frame) is taken as dead. */
  readonly stallMs: number;
  readonly pollMs: number;
  /** Waits at most this long in all. */
  readonly budgetMs: number;
  readonly signal: AbortSignal;
  /** That utterance is over although its last frame never came (it was cancelled). */
  readonly finished: (f: LastFrame) => boolean;
  readonly now?: () => number;
}

/**
 * Waits while an utterance of the session is still streaming (its frames keep coming, its last
 * frame has not gone out, it was not cancelled), so two replicas never interleave one call's
 * audio: another utterance, or this same one from a replica that still streams it (nats-server
 * 2.9.10 can hand a message out again while its first holder is alive; the caller then resumes
 * after that replica's last frame, or finds it done). An unreadable frame holds nothing back.
 * Returns how long it waited and the frame it read last, which the resume decision uses.
 */
export async function waitForTurnToSpeak(
  read: () => Promise<LastFrame | undefined | 'unreadable'>,
  o: TurnToSpeakOptions,
): Promise<{ waitedMs: number; last: LastFrame | undefined | 'unreadable' }> {
  const now = o.now ?? Date.now;
  const t0 = now();
  for (;;) {
    const last = await read();
    const done = (): { waitedMs: number; last: LastFrame | undefined | 'unreadable' } => ({ waitedMs: now() - t0, last });
    if (!last || last === 'unreadable' || last.last || o.finished(last)) return done();
    if (now() - last.capturedAt >= o.stallMs) return done();
    if (now() - t0 >= o.budgetMs || o.signal.aborted) return done();
    await sleep(o.pollMs, o.signal);
  }
}
