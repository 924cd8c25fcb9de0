import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ContractError,
  Event,
  EventType,
  KNOWN_EVENT_TYPES,
  KNOWN_COMMAND_TYPES,
  Command,
  AudioFrame,
  AudioSource,
  SpeakKind,
  TimerKind,
  MicState,
  decodeEvent,
  encodeEvent,
  decodeCommand,
  encodeCommand,
  decodeAudioFrame,
  encodeAudioFrame,
  makeEvent,
  makeCommand,
  newSessionId,
  partitionOf,
  subjects,
  sessionIdOfSubject,
  partitionOfSubject,
  type KnownEventType,
  type KnownCommandType,
} from '@switchboard/contracts';

const TELUGU = 'నమస్కారం, మీ ఆర్డర్ ఎక్కడ ఉంది? 🙏';
const sessionId = newSessionId();
const init = (i: number) => ({ sessionId, source: 'test', eventId: `evt-${i}`, timestamp: 1_700_000_000_000 + i, correlationId: 'turn_1' });

/** A valid, fully-populated payload for every event type (Telugu wherever there is text). */
const SAMPLE: { [K in KnownEventType]: Record<string, unknown> } = {
  CALL_STARTED: { audioSource: AudioSource.AUDIO_SOURCE_WEBRTC, language: 'te-IN', gatewayId: 'gw-1', aliases: ['pstn:+15550100'] },
  CALL_ENDED: { reason: 'hangup' },
  SPEECH_STARTED: { audioMs: 1200, mic: MicState.MIC_STATE_GATED },
  SPEECH_ENDED: { audioMs: 2400, durationMs: 1200 },
  STT_PARTIAL: { text: TELUGU, utterance: 3, audioSource: AudioSource.AUDIO_SOURCE_FILE },
  STT_FINAL: { text: TELUGU, isFinal: true, confidence: 0.5, utterance: 3, audioSource: AudioSource.AUDIO_SOURCE_EXTERNAL_STREAM, speechEndedAudioMs: 2400, decodeMs: 80, language: 'te-IN' },
  INTENT_DETECTED: { turnId: 'turn_1', intent: 'faq_question', confidence: 0.75 },
  RAG_ANSWER_PARTIAL: { turnId: 'turn_1', index: 0, text: TELUGU },
  RAG_ANSWER_READY: { turnId: 'turn_1', text: TELUGU, intent: 'faq_question', confidence: 0.5, sourceIds: ['returns-window'], clarify: false, escalate: true, firstPartialMs: 3, totalMs: 9 },
  TTS_STARTED: { turnId: 'turn_1', speakId: 'turn_1:answer', kind: SpeakKind.SPEAK_KIND_ANSWER, timeToFirstAudioMs: 55 },
  TTS_DONE: { turnId: 'turn_1', speakId: 'turn_1:answer', kind: SpeakKind.SPEAK_KIND_ANSWER, audioMs: 3000, cancelled: true },
  PLAYBACK_STARTED: { turnId: 'turn_1', speakId: 'turn_1:answer', kind: SpeakKind.SPEAK_KIND_FILLER },
  PLAYBACK_DONE: { turnId: 'turn_1', speakId: 'turn_1:answer', kind: SpeakKind.SPEAK_KIND_PROMPT, durationMs: 2980, interrupted: true },
  BARGE_IN: { reason: 'speech_onset', turnId: 'turn_1' },
  TIMER_FIRED: { kind: TimerKind.TIMER_KIND_FILLER, timerId: 'filler:7', deadline: 1_700_000_001_000 },
  ERROR: { code: 'RAG_FAILED', message: TELUGU, retryable: true, stage: 'rag', turnId: 'turn_1' },
  ESCALATION_REQUESTED: { turnId: 'turn_1', reason: 'caller asked' },
};

test('every event type round-trips proto binary ↔ JSON ↔ zod unchanged, Telugu byte for byte', () => {
  let i = 0;
  for (const type of KNOWN_EVENT_TYPES) {
    const ev = makeEvent(type, init(i++), SAMPLE[type] as never);
    const wire = encodeEvent(ev);
    const decoded = decodeEvent(wire);
    assert.deepEqual(decoded, ev, `${type} JSON round trip`);
    const viaProto = Event.decode(Event.encode(decoded).finish());
    assert.deepEqual(viaProto, ev, `${type} protobuf round trip`);
    assert.deepEqual(decodeEvent(encodeEvent(viaProto)), ev, `${type} proto → JSON → zod`);
    // ts-proto's canonical proto3 JSON is accepted too (defaults omitted where optional).
    const canonical = new TextEncoder().encode(JSON.stringify(Event.toJSON(ev)));
    if (type !== 'PLAYBACK_DONE' && type !== 'SPEECH_STARTED' && type !== 'SPEECH_ENDED') assert.deepEqual(decodeEvent(canonical), ev, `${type} canonical JSON`);
  }
  const final = decodeEvent(encodeEvent(makeEvent('STT_FINAL', init(99), SAMPLE.STT_FINAL as never)));
  assert.equal(Buffer.from(final.sttFinal!.text, 'utf8').toString('hex'), Buffer.from(TELUGU, 'utf8').toString('hex'));
});

function refuse(bytes: Uint8Array | string, code: string, match?: RegExp): void {
  const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  assert.throws(
    () => decodeEvent(b),
    (err: unknown) => {
      assert.ok(err instanceof ContractError, 'ContractError');
      assert.equal(err.code, code, `${err.code}: ${err.message} ${err.issues.join('; ')}`);
      if (match) assert.match(`${err.message} ${err.issues.join('; ')}`, match);
      return true;
    },
  );
}

test('invalid events are refused with a precise reason', () => {
  const good = makeEvent('STT_FINAL', init(1), { text: 'hello', isFinal: true });
  const json = (mut: (o: Record<string, any>) => void) => {
    const o = JSON.parse(JSON.stringify(good));
    mut(o);
    return JSON.stringify(o);
  };
  refuse(json((o) => (o.sttFinal.text = '   ')), 'INVALID_FIELDS', /sttFinal.text: required text is empty/);
  refuse(json((o) => (o.sttFinal.isFinal = false)), 'INVALID_FIELDS', /is_final/);
  refuse(json((o) => delete o.sttFinal.isFinal), 'INVALID_FIELDS', /isFinal/);
  refuse(json((o) => (o.sttFinal.text = 42)), 'INVALID_FIELDS', /text/);
  refuse(json((o) => (o.eventType = 'TELEPORT')), 'UNKNOWN_TYPE');
  refuse(json((o) => delete o.eventType), 'UNKNOWN_TYPE');
  refuse(json((o) => (o.sessionId = 'ses_nope')), 'INVALID_FIELDS', /session id/);
  refuse(json((o) => (o.ragAnswerReady = { turnId: 't', text: 'x' })), 'PAYLOAD_MISMATCH');
  refuse(json((o) => delete o.sttFinal), 'PAYLOAD_MISMATCH', /none/);
  refuse(json((o) => (o.sttFinal.text = 'x'.repeat(70_000))), 'TOO_LARGE');
  refuse(json((o) => (o.sttFinal.text = '\ud800 lone surrogate')), 'INVALID_FIELDS', /well-formed/);
  refuse(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'INVALID_UTF8');
  refuse('{"eventType": ', 'INVALID_JSON');
  refuse('[1,2]', 'INVALID_JSON');
  const done = JSON.parse(JSON.stringify(makeEvent('PLAYBACK_DONE', init(2), { speakId: 's', durationMs: 0 })));
  delete done.playbackDone.durationMs;
  refuse(JSON.stringify(done), 'INVALID_FIELDS', /durationMs/);
  const barge = JSON.parse(JSON.stringify(makeEvent('BARGE_IN', init(3), {})));
  refuse(JSON.stringify(barge), 'INVALID_FIELDS', /reason/);
  refuse(JSON.stringify({ ...JSON.parse(JSON.stringify(makeEvent('RAG_ANSWER_READY', init(4), { turnId: 't' }))) }), 'INVALID_FIELDS', /text/);
});

const COMMAND_SAMPLE: { [K in KnownCommandType]: Record<string, unknown> } = {
  RAG_QUERY: { turnId: 'turn_1', text: TELUGU, skipIntent: true, history: [{ turnId: 'turn_0', userText: TELUGU, agentText: 'ok', intent: 'greeting', sourceIds: [] }], language: 'te', deadline: 5 },
  RAG_CANCEL: { turnId: 'turn_1', reason: 'superseded' },
  TTS_SPEAK: { turnId: 'turn_1', speakId: 'turn_1:answer', text: TELUGU, kind: SpeakKind.SPEAK_KIND_ANSWER, cacheKey: '', language: 'te' },
  TTS_CANCEL: { turnId: 'turn_1', speakId: '', reason: 'barge_in' },
  PLAYBACK_FLUSH: { turnId: 'turn_1', reason: 'barge_in', fadeMs: 5 },
  MIC_SET: { state: MicState.MIC_STATE_GATED, reason: 'speaking' },
  CALL_END: { reason: 'no_input' },
};

test('every command type round-trips, and invalid commands are refused', () => {
  let i = 0;
  for (const type of KNOWN_COMMAND_TYPES) {
    const cmd = makeCommand(type, { sessionId, source: 'session-orchestrator', commandId: `${sessionId}:${i}:0`, timestamp: 1_700_000_000_000 + i++ }, COMMAND_SAMPLE[type] as never);
    assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd, type);
    assert.deepEqual(Command.decode(Command.encode(cmd).finish()), cmd, `${type} protobuf`);
  }
  const bad = makeCommand('TTS_SPEAK', { sessionId, source: 'x', commandId: 'c' }, { speakId: 's' });
  assert.throws(() => decodeCommand(encodeCommand(bad)), /needs text or cache_key/);
  const mic = makeCommand('MIC_SET', { sessionId, source: 'x', commandId: 'c' }, {});
  assert.throws(() => decodeCommand(encodeCommand(mic)), /mic state required/);
});

test('audio frames: binary round trip and validation', () => {
  const pcm = Buffer.from(new Uint8Array(640).map((_, i) => i & 0xff));
  const frame = AudioFrame.fromPartial({ sessionId, seq: 42, audioMs: 840, sampleRate: 16000, pcm, source: AudioSource.AUDIO_SOURCE_WEBRTC });
  const back = decodeAudioFrame(encodeAudioFrame(frame));
  assert.deepEqual({ ...back, pcm: Buffer.from(back.pcm) } as unknown, { ...frame, pcm: Buffer.from(pcm) } as unknown);
  assert.throws(() => decodeAudioFrame(encodeAudioFrame({ ...frame, sessionId: 'bad' })), /sessionId/);
  assert.throws(() => decodeAudioFrame(encodeAudioFrame({ ...frame, sampleRate: 8000 })), /sampleRate/);
  assert.throws(() => decodeAudioFrame(new Uint8Array([0xff, 0xff, 0xff])), ContractError);
});

test('subjects: one builder, stable partition hash, parse back', () => {
  const p = partitionOf(sessionId, 64);
  assert.ok(p >= 0 && p < 64);
  assert.equal(partitionOf(sessionId, 64), p, 'deterministic');
  assert.equal(partitionOf('ses_01ARZ3NDEKTSV4RRFFQ69G5FAV', 64), partitionOf('ses_01ARZ3NDEKTSV4RRFFQ69G5FAV', 64));
  const s = subjects.event(sessionId, EventType.STT_FINAL, 64);
  assert.equal(s, `voice.evt.${p}.${sessionId}.STT_FINAL`);
  assert.equal(sessionIdOfSubject(s), sessionId);
  assert.equal(partitionOfSubject(s), p);
  assert.equal(sessionIdOfSubject(subjects.audioIn(sessionId, 64)), sessionId);
  assert.equal(subjects.command('tts', sessionId, 'TTS_SPEAK'), `voice.cmd.tts.${sessionId}.TTS_SPEAK`);
  assert.throws(() => subjects.event('ses_x.>', 'STT_FINAL', 64), /invalid session id/);
  assert.throws(() => subjects.command('rag', sessionId, 'a.b'), /invalid command type/);
  // spread: 10 000 ids over 64 partitions, no partition more than 2× the mean
  const counts = new Array(64).fill(0);
  for (let i = 0; i < 10_000; i++) counts[partitionOf(newSessionId(1_700_000_000_000 + i), 64)]++;
  assert.ok(Math.max(...counts) < 2 * (10_000 / 64), `skewed: ${Math.max(...counts)}`);
});
