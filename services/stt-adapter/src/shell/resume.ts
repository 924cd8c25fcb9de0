// What a session's previous owner already did, read back from the streams when this replica
// first sees the session: the last SPEECH_STARTED / SPEECH_ENDED it published (to continue the
// utterance numbering, so re-detected utterances reuse their event ids), and the last MIC_SET
// (when this replica did not see it live). Direct "last message on subject" reads, ~1 ms each.
import { STREAMS, decodeCommand, decodeEvent, subjects } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { ResumePoint } from '../core/session-recognizer';
import { micOf, utteranceOfEventId } from '../core/to-events';
import type { Mic } from '../core/session-recognizer';

async function lastOn(bus: Bus, stream: string, subject: string): Promise<Uint8Array | undefined> {
  const m = await bus.jsm.streams.getMessage(stream, { last_by_subj: subject });
  return m?.data;
}

export async function readResumePoint(bus: Bus, sessionId: string): Promise<ResumePoint> {
  const [started, ended] = await Promise.all([
    lastOn(bus, STREAMS.events, subjects.event(sessionId, 'SPEECH_STARTED', bus.partitions)),
    lastOn(bus, STREAMS.events, subjects.event(sessionId, 'SPEECH_ENDED', bus.partitions)),
  ]);
  if (!started) return { lastStartEnded: false };
  const s = decodeEvent(started);
  const utterance = utteranceOfEventId(sessionId, s.eventId);
  if (utterance === undefined || !s.speechStarted) return { lastStartEnded: false };
  const endedUtterance = ended ? utteranceOfEventId(sessionId, decodeEvent(ended).eventId) : undefined;
  return {
    lastStart: { utterance, audioMs: s.speechStarted.audioMs },
    lastStartEnded: endedUtterance !== undefined && endedUtterance >= utterance,
  };
}

export async function readLastMic(bus: Bus, sessionId: string): Promise<{ mic: Mic; at: number } | undefined> {
  const data = await lastOn(bus, STREAMS.cmd.stt, subjects.command('stt', sessionId, 'MIC_SET'));
  if (!data) return undefined;
  const cmd = decodeCommand(data);
  const mic = cmd.micSet ? micOf(cmd.micSet.state) : undefined;
  return mic ? { mic, at: cmd.timestamp } : undefined;
}
