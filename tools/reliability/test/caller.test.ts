// The synthetic caller reacts to commands as the recorder delivers them — one consumer per
// command stream, so commands of one session can arrive out of their decision order. Found by the
// 100-kill pipeline run (load ~20): an answer's TTS_SPEAK before its turn's RAG_QUERY (the caller
// did not recognise its barge-in step's answer and never interrupted it), and the OPEN after a
// superseding final that cut the answer like a barge-in (counted as "ready for the next step", it
// put the caller one step ahead for the rest of the call). The caller publishes to a real server;
// the test hands it commands in the order that broke it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, provision } from '@switchboard/bus';
import { MicState, SpeakKind, makeCommand, type CommandTarget, type CommandTypeName } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { eventually, startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { SyntheticCaller, supersedingText, type CommandListener, type HistoryRecorder, type PublishedEvent, type SessionScript } from '@switchboard/reliability';

let server: NatsServerHandle;
let bus: Bus;
before(async () => {
  server = await startNatsServer();
  bus = await Bus.connect({ servers: server.url, service: 'test', log: createLogger({ service: 'test', level: 'warn' }), partitions: 16 });
  await provision(bus.nc, bus.jsm, { leaseTtlMs: 1000 });
});
after(async () => {
  await bus?.drain();
  await server?.stop();
});

/** A caller wired to a recorder the test drives: `deliver` is "the recorder received this command". */
function callerFor(script: SessionScript) {
  const published: PublishedEvent[] = [];
  let listener: CommandListener | undefined;
  const recorder = { onCommand: (fn: CommandListener) => (listener = fn), notePublished: (p: PublishedEvent) => published.push(p) } as unknown as HistoryRecorder;
  const caller = new SyntheticCaller({ bus, recorder, scripts: [script], standIn: { rag: false, tts: false } });
  let n = 0;
  const deliver = (target: CommandTarget, type: CommandTypeName, body: Record<string, unknown>) =>
    listener!({ target, seq: ++n, time: Date.now(), receivedAt: Date.now(), command: makeCommand(type, { sessionId: script.sessionId, source: 'session-orchestrator', commandId: `${script.sessionId}:${n}:0` }, body as never) });
  const ids = () => published.map((p) => p.eventId.slice(script.sessionId.length + 1));
  return { caller, deliver, ids };
}

const sid = (c: string) => `ses_0${c.repeat(25)}`;
const open = (reason: string) => ({ state: MicState.MIC_STATE_OPEN, reason });
const answer = (turnId: string) => ({ turnId, speakId: `${turnId}:answer`, text: 'an answer', kind: SpeakKind.SPEAK_KIND_ANSWER });

test("a barge-in step's answer that arrives before its RAG_QUERY is still interrupted", async () => {
  const script: SessionScript = { sessionId: sid('A'), hangUp: false, steps: [{ utterance: 'where is my order', pauseBeforeMs: 0, interrupt: 'barge_in' }] };
  const { caller, deliver, ids } = callerFor(script);
  deliver('gateway', 'MIC_SET', open('enter_listening'));
  await eventually(() => ids().includes('u0:final'), `u0:final published`, 5_000);
  deliver('tts', 'TTS_SPEAK', answer('turn_3'));
  deliver('rag', 'RAG_QUERY', { turnId: 'turn_3', text: 'where is my order' });
  await eventually(() => ids().includes('u0:barge'), `u0:barge published`, 5_000);
  caller.stop();
});

test('the OPEN after a superseding final that cut the answer does not start the next step; the new turn\'s playback end does', async () => {
  const steps: SessionScript['steps'] = [
    { utterance: 'reset my password', pauseBeforeMs: 0, interrupt: 'supersede' },
    { utterance: 'where is my order', pauseBeforeMs: 0, interrupt: 'none' },
  ];
  const script: SessionScript = { sessionId: sid('B'), hangUp: false, steps };
  const { caller, deliver, ids } = callerFor(script);
  deliver('gateway', 'MIC_SET', open('enter_listening'));
  await eventually(() => ids().includes('u0:final'), `u0:final published`, 5_000);
  deliver('rag', 'RAG_QUERY', { turnId: 'turn_3', text: 'reset my password' });
  await eventually(() => ids().includes('u0:final2'), `u0:final2 published`, 5_000);
  // the first answer won the race: the superseding final cut it like a barge-in
  deliver('tts', 'TTS_SPEAK', answer('turn_3'));
  deliver('gateway', 'MIC_SET', open('barge_in'));
  deliver('rag', 'RAG_QUERY', { turnId: 'turn_6', text: supersedingText(steps[0]!) });
  deliver('tts', 'TTS_SPEAK', answer('turn_6'));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!ids().includes('u1:ss'), `the caller talked over the new answer: ${ids().join(', ')}`);
  deliver('gateway', 'MIC_SET', open('playback_done'));
  await eventually(() => ids().includes('u1:ss'), `u1:ss published`, 5_000);
  caller.stop();
});
