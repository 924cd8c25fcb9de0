// The checker must be able to fail: each test breaks one property of an otherwise clean,
// hand-made history and expects exactly that violation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCommand, makeEvent, MicState, SpeakKind, TimerKind, type CommandTarget, type CommandTypeName, type EventTypeName } from '@switchboard/contracts';
import { NON_ESCALATING_WORDS, PipelineScenario, checkHistory, expectedQueries, supersedingText, type History, type RecordedCommand, type SessionScript } from '@switchboard/reliability';

const SID = 'ses_0AAAAAAAAAAAAAAAAAAAAAAAAA';

const script: SessionScript = {
  sessionId: SID,
  hangUp: false,
  steps: [
    { utterance: 'where is my order', pauseBeforeMs: 0, interrupt: 'none' },
    { utterance: 'reset my password', pauseBeforeMs: 0, interrupt: 'supersede' },
    { utterance: 'talk to an agent', pauseBeforeMs: 0, interrupt: 'barge_in' },
  ],
};

/** What a correct orchestrator + caller produce for `script` (event seqs 1.., commands by event seq). */
function cleanHistory(o: { answeredBeforeSuperseded?: boolean } = {}): History {
  const h: History = { events: [], commands: [], published: [], finals: {} };
  let seq = 0;
  const cmdSeq: Record<string, number> = {};
  const ev = (type: EventTypeName, payload: Record<string, unknown>, id = `${SID}:${seq + 1}`) => {
    seq++;
    const event = makeEvent(type, { sessionId: SID, source: 'synthetic-caller', eventId: id }, payload as never);
    h.events.push({ seq, time: seq, subject: `voice.evt.0.${SID}.${type}`, subjectSessionId: SID, event });
    h.published.push({ eventId: id, sessionId: SID, eventType: type, at: seq, seq, duplicate: false });
    return seq;
  };
  const cmds = (eventSeq: number, list: Array<[CommandTarget, CommandTypeName, Record<string, unknown>, string]>) =>
    list.forEach(([target, type, body, turn], index) => {
      cmdSeq[target] = (cmdSeq[target] ?? 0) + 1;
      const command = makeCommand(type, { sessionId: SID, source: 'session-orchestrator', commandId: `${SID}:${eventSeq}:${index}`, correlationId: turn }, body as never);
      h.commands.push({ target, seq: cmdSeq[target]!, time: eventSeq, command });
    });
  const open = (s: number) =>
    cmds(s, [
      ['gateway', 'MIC_SET', { state: MicState.MIC_STATE_OPEN }, ''],
      ['stt', 'MIC_SET', { state: MicState.MIC_STATE_OPEN }, ''],
    ]);
  const speak = (s: number, turn: string) =>
    cmds(s, [
      ['gateway', 'MIC_SET', { state: MicState.MIC_STATE_GATED }, turn],
      ['stt', 'MIC_SET', { state: MicState.MIC_STATE_GATED }, turn],
      ['tts', 'TTS_SPEAK', { turnId: turn, speakId: `${turn}:answer`, text: 'an answer', kind: SpeakKind.SPEAK_KIND_ANSWER }, turn],
    ]);
  open(ev('CALL_STARTED', {}));
  // step 0: plain turn
  let f = ev('STT_FINAL', { text: 'where is my order', isFinal: true });
  let t = `turn_${f}`;
  cmds(f, [['rag', 'RAG_QUERY', { turnId: t, text: 'where is my order' }, t]]);
  speak(ev('RAG_ANSWER_READY', { turnId: t, text: 'a' }), t);
  open(ev('PLAYBACK_DONE', { turnId: t, speakId: `${t}:answer` }));
  // step 1: superseded, then answered
  f = ev('STT_FINAL', { text: 'reset my password', isFinal: true });
  const t1 = `turn_${f}`;
  cmds(f, [['rag', 'RAG_QUERY', { turnId: t1, text: 'reset my password' }, t1]]);
  if (o.answeredBeforeSuperseded) {
    // The answer won the race: the superseding final comes while it is spoken — a barge-in
    // (TTS_CANCEL), then the final opens the next turn (replayed in LISTENING, same event).
    speak(ev('RAG_ANSWER_READY', { turnId: t1, text: 'a' }), t1);
    f = ev('STT_FINAL', { text: supersedingText(script.steps[1]!), isFinal: true });
    t = `turn_${f}`;
    cmds(f, [
      ['tts', 'TTS_CANCEL', { turnId: t1, reason: 'barge_in' }, t1],
      ['gateway', 'PLAYBACK_FLUSH', { turnId: t1, reason: 'barge_in' }, t1],
      ['gateway', 'MIC_SET', { state: MicState.MIC_STATE_OPEN }, ''],
      ['stt', 'MIC_SET', { state: MicState.MIC_STATE_OPEN }, ''],
      ['rag', 'RAG_QUERY', { turnId: t, text: supersedingText(script.steps[1]!) }, t],
    ]);
  } else {
    f = ev('STT_FINAL', { text: supersedingText(script.steps[1]!), isFinal: true });
    t = `turn_${f}`;
    cmds(f, [
      ['rag', 'RAG_CANCEL', { turnId: t1, reason: 'superseded' }, t1],
      ['rag', 'RAG_QUERY', { turnId: t, text: supersedingText(script.steps[1]!) }, t],
    ]);
    ev('RAG_ANSWER_READY', { turnId: t1, text: 'late' }); // stale: no commands
  }
  speak(ev('RAG_ANSWER_READY', { turnId: t, text: 'a' }), t);
  open(ev('PLAYBACK_DONE', { turnId: t, speakId: `${t}:answer` }));
  // step 2: barge-in
  f = ev('STT_FINAL', { text: 'talk to an agent', isFinal: true });
  t = `turn_${f}`;
  cmds(f, [['rag', 'RAG_QUERY', { turnId: t, text: 'talk to an agent' }, t]]);
  speak(ev('RAG_ANSWER_READY', { turnId: t, text: 'a' }), t);
  const b = ev('SPEECH_STARTED', {});
  cmds(b, [
    ['tts', 'TTS_CANCEL', { turnId: t, reason: 'barge_in' }, t],
    ['gateway', 'PLAYBACK_FLUSH', { turnId: t, reason: 'barge_in' }, t],
    ['gateway', 'MIC_SET', { state: MicState.MIC_STATE_OPEN }, ''],
    ['stt', 'MIC_SET', { state: MicState.MIC_STATE_OPEN }, ''],
  ]);
  h.finals[SID] = { state: 'LISTENING', lastSeq: seq, turns: expectedQueries(script).length };
  return h;
}

const find = (h: History, pred: (c: RecordedCommand) => boolean) => {
  const i = h.commands.findIndex(pred);
  assert.ok(i >= 0, 'command to mutate exists');
  return i;
};

test('a clean history passes with everything counted', () => {
  const r = checkHistory(cleanHistory(), [script]);
  assert.deepEqual(r.violations, []);
  assert.equal(r.sessions, 1);
  assert.equal(r.lost + r.duplicated + r.repliesForCancelledTurns + r.stuck, 0);
  assert.equal(r.eventsChecked, 12);
  assert.equal(r.commandsChecked, 24);
});

test('a lost TTS_SPEAK is a lost command', () => {
  const h = cleanHistory();
  h.commands.splice(find(h, (c) => c.command.commandType === 'TTS_SPEAK'), 1);
  const r = checkHistory(h, [script]);
  assert.equal(r.lostCommands, 1);
  assert.deepEqual(r.violations.map((v) => v.kind), ['lost_command']);
});

test('a lost RAG_QUERY (the script stalls) is a lost command', () => {
  const h = cleanHistory();
  const last = h.commands.filter((c) => c.command.commandType === 'RAG_QUERY').at(-1)!;
  h.commands = h.commands.filter((c) => Number(c.command.commandId.split(':')[1]) < Number(last.command.commandId.split(':')[1]));
  const r = checkHistory(h, [script]);
  assert.ok(r.lost >= 1);
  assert.ok(r.violations.some((v) => v.kind === 'lost_command' && /RAG_QUERY missing/.test(v.detail)), JSON.stringify(r.violations));
});

test('the same command id twice on a stream is a duplicate', () => {
  const h = cleanHistory();
  const c = h.commands[find(h, (x) => x.command.commandType === 'RAG_QUERY')]!;
  h.commands.push({ ...c, seq: 999 });
  const r = checkHistory(h, [script]);
  assert.equal(r.duplicated, 1);
  assert.deepEqual(r.violations.map((v) => v.kind), ['duplicate_command']);
});

test('two RAG_QUERY for one turn (different ids) are a duplicate', () => {
  const h = cleanHistory();
  const c = h.commands[find(h, (x) => x.command.commandType === 'RAG_QUERY')]!;
  h.commands.push({ ...c, seq: 999, command: { ...c.command, commandId: `${SID}:${c.command.commandId.split(':')[1]}:7` } });
  const r = checkHistory(h, [script]);
  assert.equal(r.duplicated, 1);
  assert.ok(r.violations.some((v) => v.kind === 'duplicate_turn_command'));
});

test('a TTS_SPEAK for a turn after its RAG_CANCEL is a reply for a cancelled turn', () => {
  const h = cleanHistory();
  const cancel = h.commands[find(h, (x) => x.command.commandType === 'RAG_CANCEL')]!;
  const turn = cancel.command.ragCancel!.turnId;
  const late = Number(cancel.command.commandId.split(':')[1]) + 1; // the stale answer's event seq
  h.commands.push({
    target: 'tts',
    seq: 999,
    time: late,
    command: makeCommand('TTS_SPEAK', { sessionId: SID, source: 'session-orchestrator', commandId: `${SID}:${late}:2`, correlationId: turn }, { turnId: turn, speakId: `${turn}:answer`, text: 'late', kind: SpeakKind.SPEAK_KIND_ANSWER }),
  });
  const r = checkHistory(h, [script]);
  assert.equal(r.repliesForCancelledTurns, 1);
  assert.deepEqual(r.violations.map((v) => v.kind), ['reply_for_cancelled_turn']);
});

test('a session left THINKING after its script is stuck; an unknown session too', () => {
  const h = cleanHistory();
  h.finals[SID] = { ...h.finals[SID]!, state: 'THINKING' };
  assert.equal(checkHistory(h, [script]).stuck, 1);
  h.finals[SID] = null;
  const r = checkHistory(h, [script]);
  assert.equal(r.stuck, 1);
  assert.ok(r.violations.some((v) => v.kind === 'stuck' && /does not know/.test(v.detail)));
  const hung = { ...script, hangUp: true };
  const h2 = cleanHistory();
  assert.equal(checkHistory(h2, [hung]).stuck, 1, 'a caller who hung up must find the session ENDED');
});

test('an acknowledged event missing from the log, or never applied, is lost', () => {
  const h = cleanHistory();
  h.events.splice(3, 1);
  let r = checkHistory(h, [script]);
  assert.equal(r.lostEvents, 1);
  assert.deepEqual(r.violations.map((v) => v.kind), ['lost_event']);
  const h2 = cleanHistory();
  h2.finals[SID] = { ...h2.finals[SID]!, lastSeq: h2.finals[SID]!.lastSeq - 2 };
  r = checkHistory(h2, [script]);
  assert.equal(r.lostEvents, 2);
  assert.deepEqual(r.violations.map((v) => v.kind), ['unapplied_event']);
});

test('turns out of script order, a missing barge-in cancel, and a wrong turn count are caught', () => {
  const h = cleanHistory();
  const qs = h.commands.filter((c) => c.command.commandType === 'RAG_QUERY');
  const [a, b] = [qs[0]!.command.ragQuery!, qs[1]!.command.ragQuery!];
  [a.text, b.text] = [b.text, a.text];
  assert.ok(checkHistory(h, [script]).violations.some((v) => v.kind === 'turn_order'));

  const h2 = cleanHistory();
  h2.commands.splice(find(h2, (c) => c.command.commandType === 'TTS_CANCEL'), 1);
  const r2 = checkHistory(h2, [script]);
  assert.ok(r2.violations.some((v) => v.kind === 'lost_command' && /TTS_CANCEL/.test(v.detail)), JSON.stringify(r2.violations));

  const h3 = cleanHistory();
  h3.finals[SID] = { ...h3.finals[SID]!, turns: 5 };
  assert.deepEqual(checkHistory(h3, [script]).violations.map((v) => v.kind), ['turn_count']);
});

/**
 * The barge-in step's tail rebuilt: the playback timeout (TIMER_FIRED, with the commands of its
 * return to LISTENING when `applied`) and the caller's SPEECH_STARTED, in the given stream order;
 * no TTS_CANCEL anywhere.
 */
function bargeInVersusTimeout(order: 'timeout_first' | 'speech_first', applied: boolean): History {
  const h = cleanHistory();
  const b = h.events.pop()!; // the barge-in SPEECH_STARTED and its commands go
  h.published.pop();
  const turn = h.commands.find((c) => c.command.ttsCancel)!.command.ttsCancel!.turnId;
  h.commands = h.commands.filter((c) => !c.command.commandId.startsWith(`${SID}:${b.seq}:`));
  const push = (seq: number, type: EventTypeName, payload: Record<string, unknown>, id: string, correlationId = '') => {
    const event = makeEvent(type, { sessionId: SID, source: 'x', eventId: id, correlationId }, payload as never);
    h.events.push({ seq, time: seq, subject: `voice.evt.0.${SID}.${type}`, subjectSessionId: SID, event });
    h.published.push({ eventId: id, sessionId: SID, eventType: type, at: seq, seq, duplicate: false });
  };
  const [timerSeq, speechSeq] = order === 'timeout_first' ? [b.seq, b.seq + 1] : [b.seq + 1, b.seq];
  push(timerSeq, 'TIMER_FIRED', { kind: TimerKind.TIMER_KIND_PLAYBACK_TIMEOUT, timerId: `playback_timeout:${b.seq - 1}`, deadline: 1 }, `timer:${SID}:playback_timeout`, turn);
  push(speechSeq, 'SPEECH_STARTED', {}, `${SID}:barge`);
  h.events.sort((x, y) => x.seq - y.seq);
  if (applied) {
    (['gateway', 'stt'] as const).forEach((target, index) =>
      h.commands.push({ target, seq: 900 + index, time: timerSeq, command: makeCommand('MIC_SET', { sessionId: SID, source: 'session-orchestrator', commandId: `${SID}:${timerSeq}:${index}`, correlationId: '' }, { state: MicState.MIC_STATE_OPEN } as never) }),
    );
  }
  h.finals[SID] = { ...h.finals[SID]!, lastSeq: b.seq + 1 };
  return h;
}

test('a barge-in the log shows after the turn’s applied playback timeout needs no TTS_CANCEL; any other missing cancel is lost', () => {
  const late = checkHistory(bargeInVersusTimeout('timeout_first', true), [script]);
  assert.deepEqual(late.violations, []);
  assert.equal(late.bargeInsAfterTimeout, 1);

  // the caller spoke while the answer was playing: the orchestrator owed a cancel
  const early = checkHistory(bargeInVersusTimeout('speech_first', true), [script]);
  assert.ok(early.violations.some((v) => v.kind === 'lost_command' && /TTS_CANCEL/.test(v.detail)), JSON.stringify(early.violations));
  assert.equal(early.bargeInsAfterTimeout, 0);

  // a timer event the orchestrator did nothing with (stale) proves nothing
  const ignored = checkHistory(bargeInVersusTimeout('timeout_first', false), [script]);
  assert.ok(ignored.violations.some((v) => v.kind === 'lost_command' && /TTS_CANCEL/.test(v.detail)), JSON.stringify(ignored.violations));
});

test('a superseded turn whose answer was already being spoken is cancelled by TTS_CANCEL; without any cancel it is lost', () => {
  const raced = checkHistory(cleanHistory({ answeredBeforeSuperseded: true }), [script]);
  assert.deepEqual(raced.violations, []);

  const h = cleanHistory({ answeredBeforeSuperseded: true });
  const t1 = h.commands.find((c) => c.command.ttsCancel?.reason === 'barge_in')!.command.ttsCancel!.turnId;
  h.commands = h.commands.filter((c) => c.command.ttsCancel?.turnId !== t1);
  const r = checkHistory(h, [script]);
  assert.ok(r.violations.some((v) => v.kind === 'lost_command' && v.detail.includes(`superseded turn ${t1}`)), JSON.stringify(r.violations));

  // a TTS_CANCEL does not stand in for the RAG_CANCEL of a turn that was still thinking
  const h2 = cleanHistory();
  const rc = h2.commands.find((c) => c.command.ragCancel)!;
  h2.commands = h2.commands.map((c) => (c === rc ? { ...c, target: 'tts' as const, command: makeCommand('TTS_CANCEL', { sessionId: SID, source: 'session-orchestrator', commandId: rc.command.commandId, correlationId: rc.command.ragCancel!.turnId }, { turnId: rc.command.ragCancel!.turnId, reason: 'x' } as never) } : c));
  const r2 = checkHistory(h2, [script]);
  assert.ok(r2.violations.some((v) => v.kind === 'lost_command' && /has no RAG_CANCEL/.test(v.detail)), JSON.stringify(r2.violations));
});

test('pipeline scripts never ask for a human (a real rag-worker escalates and the call ends mid-script)', () => {
  const scripts = new PipelineScenario({ servers: 'nats://127.0.0.1:1', seed: 11, audioSessions: 0, script: { sessions: 40, steps: [4, 6] } }).scripts;
  const words = scripts.flatMap((s) => s.steps.flatMap((st) => st.utterance.split(' ').slice(2)));
  assert.ok(words.length > 100);
  assert.deepEqual(words.filter((w) => w === 'talk' || w === 'agent'), []);
  assert.equal(NON_ESCALATING_WORDS.length, 16, 'same length as WORDS: a seed keeps its script shape');
});
