// Read models for the HTTP/gRPC APIs, built from the stored session record.
import { STATE_CONTRACTS, latencyReport, type SessionState } from '../fsm';
import type { SessionRecord } from './store';

export function sessionView(rec: SessionRecord) {
  const s: SessionState = rec.fsm;
  return {
    sessionId: s.sessionId,
    state: s.state,
    contract: STATE_CONTRACTS[s.state],
    mic: s.mic,
    playback: s.playback,
    turn: s.turn ? { turnId: s.turn.turnId, startedAt: s.turn.startedAt, marks: s.turn.marks, intent: s.turn.intent, sourceIds: s.turn.sourceIds } : null,
    timers: s.timers,
    counters: s.counters,
    lastSeq: s.lastSeq,
    owner: rec.owner,
    fence: rec.fence,
    partition: rec.partition,
    updatedAt: s.updatedAt,
    end: s.end ?? null,
    timeline: s.timeline,
  };
}

export function latencyView(rec: SessionRecord) {
  return { ...latencyReport(rec.fsm), state: rec.fsm.state };
}
