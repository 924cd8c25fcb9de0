// The workers' guarantees, checked over a pipeline run's history (events, commands, agent-audio
// frames) — a pure function like checkHistory, whose session-level checks it complements:
//   - rag: every RAG_QUERY of a turn that was not cancelled got exactly one RAG_ANSWER_READY (or
//     an ERROR for the turn: the session then apologises and goes back to LISTENING)
//   - tts: every TTS_SPEAK's audio went out once — no frame seq twice (a redelivered speak
//     spoken again by another replica), frames 0..n with one last frame unless the utterance was
//     cut (cancelled, stale, superseded: its TTS_DONE says cancelled); exactly one TTS_DONE
//   - no audio of a cancelled turn played: no frame of the turn published later than `graceMs`
//     after its TTS_CANCEL / PLAYBACK_FLUSH
//   - stt: every utterance an audio caller said produced exactly one STT_FINAL
import { CommandType, EventType, type Event } from '@switchboard/contracts';
import type { History, RecordedCommand } from './history';
import type { RecordedFrame } from './playout';
import type { SessionScript } from './script';

export type WorkerViolationKind =
  | 'rag_unanswered'
  | 'rag_duplicate_answer'
  | 'tts_duplicate_audio'
  | 'tts_incomplete_audio'
  | 'tts_done_count'
  | 'audio_after_cancel'
  | 'stt_final_lost'
  | 'stt_extra_final';

export interface WorkerViolation {
  sessionId: string;
  kind: WorkerViolationKind;
  detail: string;
}

export interface WorkerCheckResult {
  ragQueries: number;
  ragAnswered: number;
  ragErrored: number;
  speaks: number;
  framesChecked: number;
  /** frames published for turns already cancelled, within the grace (in flight when the cancel came) */
  framesAfterCancelInGrace: number;
  finalsExpected: number;
  finalsDelivered: number;
  violations: WorkerViolation[];
}

export interface WorkerCheckInput {
  history: History;
  frames: readonly RecordedFrame[];
  scripts: readonly SessionScript[];
  /** audio sessions: utterances each caller said in full */
  said: ReadonlyMap<string, number>;
  /** a frame this soon after its turn's cancel was in flight already (default 1 000 ms) */
  graceMs?: number;
}

const group = <T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> => {
  const m = new Map<string, T[]>();
  for (const i of items) {
    const k = key(i);
    const list = m.get(k);
    if (list) list.push(i);
    else m.set(k, [i]);
  }
  return m;
};

/** Distinct events (by id) of one type for a session. */
function eventsOf(events: ReadonlyMap<string, Event>, type: EventType): Event[] {
  return [...events.values()].filter((e) => e.eventType === type);
}

export function checkWorkers(input: WorkerCheckInput): WorkerCheckResult {
  const graceMs = input.graceMs ?? 1_000;
  const violations: WorkerViolation[] = [];
  const add = (sessionId: string, kind: WorkerViolationKind, detail: string) => violations.push({ sessionId, kind, detail });
  const r: WorkerCheckResult = { ragQueries: 0, ragAnswered: 0, ragErrored: 0, speaks: 0, framesChecked: 0, framesAfterCancelInGrace: 0, finalsExpected: 0, finalsDelivered: 0, violations };

  const eventsBySession = new Map<string, Map<string, Event>>();
  for (const e of input.history.events) {
    if (!e.event || !e.subjectSessionId) continue;
    let m = eventsBySession.get(e.subjectSessionId);
    if (!m) eventsBySession.set(e.subjectSessionId, (m = new Map()));
    m.set(e.event.eventId, e.event);
  }
  const commandsBySession = group(input.history.commands, (c) => c.command.sessionId);
  const framesBySession = group(input.frames, (f) => f.sessionId);

  for (const script of input.scripts) {
    const sid = script.sessionId;
    const events = eventsBySession.get(sid) ?? new Map<string, Event>();
    const cmds = uniqueCommands(commandsBySession.get(sid) ?? []);
    const frames = framesBySession.get(sid) ?? [];
    r.framesChecked += frames.length;

    // When each turn was first cancelled (stream time of the TTS_CANCEL / PLAYBACK_FLUSH / RAG_CANCEL).
    const cancelledAt = new Map<string, number>();
    for (const c of cmds) {
      const turn = c.command.ttsCancel?.turnId ?? c.command.playbackFlush?.turnId ?? c.command.ragCancel?.turnId;
      if (turn && !cancelledAt.has(turn)) cancelledAt.set(turn, c.time);
    }

    // ---- rag
    const readyByTurn = group(eventsOf(events, EventType.RAG_ANSWER_READY), (e) => e.ragAnswerReady!.turnId);
    const errorTurns = new Set(eventsOf(events, EventType.ERROR).map((e) => e.error?.turnId ?? e.correlationId));
    const queried = new Set<string>();
    for (const c of cmds) {
      const q = c.command.commandType === CommandType.RAG_QUERY ? c.command.ragQuery : undefined;
      if (!q || queried.has(q.turnId)) continue;
      queried.add(q.turnId);
      if (cancelledAt.has(q.turnId)) continue; // a cancelled turn may or may not get its answer
      r.ragQueries++;
      const ready = readyByTurn.get(q.turnId) ?? [];
      if (ready.length === 1) r.ragAnswered++;
      else if (ready.length > 1) add(sid, 'rag_duplicate_answer', `${ready.length} RAG_ANSWER_READY for ${q.turnId}: ${ready.map((e) => e.eventId).join(', ')}`);
      else if (errorTurns.has(q.turnId)) r.ragErrored++;
      else add(sid, 'rag_unanswered', `RAG_QUERY ${c.command.commandId} (${q.turnId}) never answered`);
    }

    // ---- tts: audio once, complete unless cut, one TTS_DONE
    const doneBySpeak = group(eventsOf(events, EventType.TTS_DONE), (e) => e.ttsDone!.speakId);
    const framesBySpeak = group(frames, (f) => f.speakId);
    const spoken = new Set<string>();
    for (const c of cmds) {
      const s = c.command.commandType === CommandType.TTS_SPEAK ? c.command.ttsSpeak : undefined;
      if (!s || spoken.has(s.speakId)) continue;
      spoken.add(s.speakId);
      r.speaks++;
      const fs = framesBySpeak.get(s.speakId) ?? [];
      const seqs = new Map<number, number>();
      for (const f of fs) seqs.set(f.seq, (seqs.get(f.seq) ?? 0) + 1);
      const twice = [...seqs].filter(([, n]) => n > 1).map(([q]) => q);
      if (twice.length > 0) add(sid, 'tts_duplicate_audio', `${s.speakId}: ${twice.length} frames sent more than once (seq ${twice.slice(0, 5).join(',')}…)`);
      const done = doneBySpeak.get(s.speakId) ?? [];
      if (done.length !== 1) add(sid, 'tts_done_count', `${s.speakId}: ${done.length} TTS_DONE`);
      const cut = done.some((e) => e.ttsDone!.cancelled) || cancelledAt.has(s.turnId);
      const empty = done.some((e) => !e.ttsDone!.cancelled && e.ttsDone!.audioMs === 0);
      if (!cut && !empty) {
        const max = Math.max(-1, ...seqs.keys());
        const missing = max + 1 - seqs.size;
        const lasts = fs.filter((f) => f.last).length;
        if (missing > 0 || lasts !== 1) add(sid, 'tts_incomplete_audio', `${s.speakId}: frames 0..${max} with ${missing} missing, ${lasts} last frames`);
      }
    }

    // ---- no audio of a cancelled turn played
    for (const f of frames) {
      const at = cancelledAt.get(f.turnId);
      if (at === undefined || f.time <= at) continue;
      if (f.time - at <= graceMs) r.framesAfterCancelInGrace++;
      else add(sid, 'audio_after_cancel', `${f.speakId} frame ${f.seq} published ${f.time - at} ms after its turn ${f.turnId} was cancelled`);
    }

    // ---- stt: one final per utterance said
    if (script.audio) {
      const said = input.said.get(sid) ?? 0;
      const finals = eventsOf(events, EventType.STT_FINAL).filter((e) => e.source === 'stt-adapter').length;
      r.finalsExpected += said;
      r.finalsDelivered += Math.min(finals, said);
      if (finals < said) add(sid, 'stt_final_lost', `${said} utterances said, ${finals} STT_FINAL`);
      else if (finals > said) add(sid, 'stt_extra_final', `${said} utterances said, ${finals} STT_FINAL`);
    }
  }
  return r;
}

function uniqueCommands(list: readonly RecordedCommand[]): RecordedCommand[] {
  const seen = new Set<string>();
  return [...list].sort((a, b) => a.time - b.time).filter((c) => (seen.has(c.command.commandId) ? false : (seen.add(c.command.commandId), true)));
}
