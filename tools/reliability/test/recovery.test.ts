// The recovery figures read only the recorded history and the kill log: each case is a hand-made
// history around one kill, with the wait the definition says it must report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCommand, makeEvent, partitionOf, SpeakKind, type CommandTarget, type CommandTypeName, type EventTypeName } from '@switchboard/contracts';
import { killRecoveries, recoveryFigures, type History, type KillRecord, type RecordedFrame, type SpokenClip } from '@switchboard/reliability';

const P = 16;
const A = 'ses_0AAAAAAAAAAAAAAAAAAAAAAAAA';
const B = 'ses_0BBBBBBBBBBBBBBBBBBBBBBBBB';
const K = 10_000;

function builder() {
  const h: History = { events: [], commands: [], published: [], finals: {} };
  let seq = 0;
  let cseq = 0;
  return {
    h,
    ev(sid: string, type: EventTypeName, time: number, payload: Record<string, unknown> = {}, o: { source?: string; turn?: string } = {}): number {
      seq++;
      const event = makeEvent(type, { sessionId: sid, source: o.source ?? 'synthetic-caller', eventId: `${sid}:e${seq}`, correlationId: o.turn ?? '' }, payload as never);
      h.events.push({ seq, time, subject: `voice.evt.${partitionOf(sid, P)}.${sid}.${type}`, subjectSessionId: sid, event });
      return seq;
    },
    cmd(sid: string, target: CommandTarget, type: CommandTypeName, eventSeq: number, time: number, body: Record<string, unknown> = {}, index = 0): void {
      const command = makeCommand(type, { sessionId: sid, source: 'session-orchestrator', commandId: `${sid}:${eventSeq}:${index}` }, body as never);
      h.commands.push({ target, seq: ++cseq, time, command });
    },
  };
}

const frame = (sessionId: string, speakId: string, seq: number, time: number, last = false): RecordedFrame => ({ sessionId, turnId: 't1', speakId, seq, last, time, dropped: false });
const recover = (h: History, kill: KillRecord, frames: RecordedFrame[] = [], clips: SpokenClip[] = []) => killRecoveries([kill], { history: h, frames, clips, partitions: P })[0]!;

test('orchestrator: an event pending at the kill waits from the kill; a later one from its arrival; other partitions do not count', () => {
  const b = builder();
  b.cmd(A, 'gateway', 'MIC_SET', b.ev(A, 'CALL_STARTED', K - 500), K - 499, { state: 1 });
  const pending = b.ev(A, 'STT_FINAL', K - 10, { text: 'hi', isFinal: true });
  b.cmd(A, 'rag', 'RAG_QUERY', pending, K + 1_700, { turnId: 't1', text: 'hi' });
  const later = b.ev(B, 'STT_FINAL', K + 3_000, { text: 'hi', isFinal: true });
  b.cmd(B, 'rag', 'RAG_QUERY', later, K + 3_004, { turnId: 't2', text: 'hi' });
  const r = recover(b.h, { service: 'session-orchestrator', victim: 'orch-a', killedAt: K, partitions: [partitionOf(A, P), partitionOf(B, P)] });
  assert.equal(r.caught, 2);
  assert.equal(r.recoveryMs, 1_700);
  assert.equal(r.progressMs, 1_700);
  const other = recover(b.h, { service: 'session-orchestrator', victim: 'orch-b', killedAt: K, partitions: [partitionOf(B, P)] });
  assert.equal(other.recoveryMs, 4, 'B had nothing pending: its first event after the kill waited 4 ms');
});

test('rag: a query in flight at the kill waits until the first rag-worker event of its turn; answered or cancelled ones are left out', () => {
  const b = builder();
  const f = b.ev(A, 'STT_FINAL', K - 100, { text: 'hi', isFinal: true });
  b.cmd(A, 'rag', 'RAG_QUERY', f, K - 50, { turnId: 't1', text: 'hi' });
  b.ev(A, 'RAG_ANSWER_READY', K + 4_020, { turnId: 't1', text: 'a' }, { source: 'rag-worker', turn: 't1' });
  const g = b.ev(B, 'STT_FINAL', K - 300, { text: 'hi', isFinal: true });
  b.cmd(B, 'rag', 'RAG_QUERY', g, K - 290, { turnId: 't2', text: 'hi' });
  b.ev(B, 'RAG_ANSWER_READY', K - 280, { turnId: 't2', text: 'a' }, { source: 'rag-worker', turn: 't2' });
  const r = recover(b.h, { service: 'rag-worker', victim: 'rag-a', killedAt: K });
  assert.equal(r.caught, 1);
  assert.equal(r.recoveryMs, 4_020);
  // cancelled before the answer: nothing waited for it
  b.cmd(A, 'rag', 'RAG_CANCEL', f, K + 1_000, { turnId: 't1' }, 1);
  assert.equal(recover(b.h, { service: 'rag-worker', victim: 'rag-a', killedAt: K }).caught, 0);
});

test('tts: a speak streaming at the kill waits until its next frame (or TTS_DONE); finished speaks are left out', () => {
  const b = builder();
  const f = b.ev(A, 'RAG_ANSWER_READY', K - 1_000, { turnId: 't1', text: 'a' });
  b.cmd(A, 'tts', 'TTS_SPEAK', f, K - 990, { turnId: 't1', speakId: 's1', text: 'a', kind: SpeakKind.SPEAK_KIND_ANSWER });
  b.cmd(A, 'tts', 'TTS_SPEAK', f, K - 990, { turnId: 't1', speakId: 's0', text: 'a', kind: SpeakKind.SPEAK_KIND_ANSWER }, 1);
  const frames = [frame(A, 's0', 0, K - 900, true), frame(A, 's1', 0, K - 800), frame(A, 's1', 1, K - 780), frame(A, 's1', 2, K + 4_100), frame(A, 's1', 3, K + 4_120, true)];
  const r = recover(b.h, { service: 'tts-streamer', victim: 'tts-a', killedAt: K }, frames);
  assert.equal(r.caught, 1);
  assert.equal(r.recoveryMs, 4_100);
  assert.match(r.longest ?? '', /speak s1/);
  // reported cut instead of resumed: its TTS_DONE ends the wait
  b.ev(A, 'TTS_DONE', K + 3_900, { turnId: 't1', speakId: 's1', cancelled: true }, { source: 'tts-streamer', turn: 't1' });
  assert.equal(recover(b.h, { service: 'tts-streamer', victim: 'tts-a', killedAt: K }, frames).recoveryMs, 3_900);
});

test('stt: speech in progress at the kill waits from the kill; a clip that starts later from its onset', () => {
  const b = builder();
  b.ev(A, 'SPEECH_STARTED', K - 400, {}, { source: 'stt-adapter' });
  b.ev(A, 'STT_FINAL', K + 2_500, { text: 'hi', isFinal: true }, { source: 'stt-adapter' });
  const kill: KillRecord = { service: 'stt-adapter', victim: 'stt-a', killedAt: K, partitions: [partitionOf(A, P)] };
  assert.equal(recover(b.h, kill, [], [{ sessionId: A, startedAt: K - 700, onsetAt: K - 500 }]).recoveryMs, 2_500);
  const c = builder();
  c.ev(A, 'SPEECH_STARTED', K + 5_150, {}, { source: 'stt-adapter' });
  assert.equal(recover(c.h, kill, [], [{ sessionId: A, startedAt: K + 4_800, onsetAt: K + 5_000 }]).recoveryMs, 150);
  // an event-level session (no clips) is not the stt-adapter's work
  assert.equal(recover(c.h, kill, [], []).caught, 0);
});

test('figures per service and overall count the kills that caught no work apart', () => {
  const b = builder();
  const recs = killRecoveries(
    [
      { service: 'rag-worker', victim: 'rag-a', killedAt: K },
      { service: 'session-orchestrator', victim: 'orch-a', killedAt: K, partitions: [] },
    ],
    { history: b.h, frames: [], clips: [], partitions: P },
  );
  const f = recoveryFigures(recs);
  assert.equal(f.get('all')?.kills, 2);
  assert.equal(f.get('all')?.withWork, 0);
  assert.equal(f.get('rag-worker')?.kills, 1);
});
