// What a session's previous owner already did, read back from the streams when this replica
// first sees the session: the last SPEECH_STARTED / SPEECH_ENDED / STT_FINAL it published (to
// continue the utterance numbering, so re-detected utterances reuse their event ids, and to know
// whether its last utterance still lacks a final), and the last MIC_SET (when this replica did
// not see it live). Direct "last message on subject" reads, ~1 ms each. An utterance without its
// final (the owner died while it was spoken or decoded) is heard again from its onset: the
// session's audio since then is read back from the memory stream.
import { DeliverPolicy } from '@nats-io/jetstream';
import { STREAMS, decodeAudioFrame, decodeCommand, decodeEvent, pcmSamples, subjects } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { SeqFrame } from '../core/frame-sequencer';
import type { ResumePoint } from '../core/session-recognizer';
import { micOf, utteranceOfEventId } from '../core/to-events';
import type { Mic } from '../core/session-recognizer';

/** Frames read and skipped before the rewind's onset, at most (the audio stream keeps ~10 s = 500 frames). */
const REWIND_SLACK_FRAMES = 600;
/** How far before SPEECH_STARTED's publish time the rewind's read starts: the previous owner's backlog, at most the audio stream's age. */
export const REWIND_LAG_MS = 10_000;

async function lastOn(bus: Bus, stream: string, subject: string): Promise<Uint8Array | undefined> {
  const m = await bus.jsm.streams.getMessage(stream, { last_by_subj: subject });
  return m?.data;
}

export interface Resume {
  readonly point: ResumePoint;
  /** The last utterance started has no STT_FINAL: when its SPEECH_STARTED was published (unix ms). */
  readonly unfinishedSince?: number;
}

export async function readResumePoint(bus: Bus, sessionId: string): Promise<Resume> {
  const [started, ended, final] = await Promise.all([
    lastOn(bus, STREAMS.events, subjects.event(sessionId, 'SPEECH_STARTED', bus.partitions)),
    lastOn(bus, STREAMS.events, subjects.event(sessionId, 'SPEECH_ENDED', bus.partitions)),
    lastOn(bus, STREAMS.events, subjects.event(sessionId, 'STT_FINAL', bus.partitions)),
  ]);
  if (!started) return { point: { lastStartEnded: false } };
  const s = decodeEvent(started);
  const utterance = utteranceOfEventId(sessionId, s.eventId);
  if (utterance === undefined || !s.speechStarted) return { point: { lastStartEnded: false } };
  const indexOf = (data: Uint8Array | undefined) => (data ? utteranceOfEventId(sessionId, decodeEvent(data).eventId) : undefined);
  const endedUtterance = indexOf(ended);
  const finalUtterance = indexOf(final);
  const lastStartEnded = endedUtterance !== undefined && endedUtterance >= utterance;
  const endedAt = ended && endedUtterance === utterance ? decodeEvent(ended).speechEnded?.audioMs : undefined;
  const point: ResumePoint = { lastStart: { utterance, audioMs: s.speechStarted.audioMs }, lastStartEnded, ...(endedAt !== undefined ? { lastEndAudioMs: endedAt } : {}) };
  return finalUtterance !== undefined && finalUtterance >= utterance ? { point } : { point, unfinishedSince: s.timestamp };
}

/**
 * The session's caller audio from audio position `fromAudioMs` (the caller's clock, as in
 * SPEECH_STARTED) up to, not including, frame `beforeSeq` (the first frame this replica received
 * live), at most `maxFrames`. The read starts at stream time `fromMs` and skips what comes before
 * `fromAudioMs`: a previous owner behind real time published its SPEECH_STARTED late, so the
 * publish time alone would start the read after the onset and cut the utterance's beginning.
 */
export async function readSessionAudio(bus: Bus, sessionId: string, at: { fromMs: number; fromAudioMs: number; beforeSeq: number; maxFrames: number }): Promise<SeqFrame[]> {
  const c = await bus.js.consumers.get(STREAMS.audioIn, {
    filter_subjects: subjects.audioIn(sessionId, bus.partitions),
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(at.fromMs).toISOString(),
  });
  const out: SeqFrame[] = [];
  const msgs = await c.fetch({ max_messages: at.maxFrames + REWIND_SLACK_FRAMES, expires: 2_000 });
  for await (const m of msgs) {
    const f = decodeAudioFrame(m.data);
    if (f.seq >= at.beforeSeq || out.length >= at.maxFrames) break;
    if (f.audioMs >= at.fromAudioMs && f.sampleRate === 16000 && f.pcm.byteLength === 640) out.push({ seq: f.seq, audioMs: f.audioMs, samples: pcmSamples(f) });
    if (m.info.pending === 0) break;
  }
  await msgs.close().catch(() => undefined);
  return out;
}

export async function readLastMic(bus: Bus, sessionId: string): Promise<{ mic: Mic; at: number } | undefined> {
  const data = await lastOn(bus, STREAMS.cmd.stt, subjects.command('stt', sessionId, 'MIC_SET'));
  if (!data) return undefined;
  const cmd = decodeCommand(data);
  const mic = cmd.micSet ? micOf(cmd.micSet.state) : undefined;
  return mic ? { mic, at: cmd.timestamp } : undefined;
}
