// The rag-worker as a service: real nats-server, the real engine, commands in, events out.
// Two NATS servers: one with two extractive replicas (the default engine), one with replicas
// whose answers come from a local OpenAI-compatible server that can be slow or failing (both
// groups share the durable `rag-worker` consumer name, so they must not share a server).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HEADERS, type Bus } from '@switchboard/bus';
import { STREAMS, decodeCommand, encodeCommand, newSessionId, newTurnId, subjects } from '@switchboard/contracts';
import { startService, type RunningService } from '@switchboard/runtime';
import { captureLogs, eventually, sleep, startNatsServer, type LogCapture, type NatsServerHandle } from '@switchboard/testkit';
import { cancelConsumerName, ragWorkerService } from '../src/index';
import { EventRecorder, FakeLlm, baseEnv, contextOf, metricValue, producerBus, queryCommand, sendCancel, sendQuery } from './harness';


const answeredBy = (logs: LogCapture, commandId: string): boolean => logs.lines.some((l) => l['msg'] === 'query answered' && l['commandId'] === commandId);

describe('rag-worker with the default (extractive) engine, two replicas', () => {
  let server: NatsServerHandle;
  let bus: Bus;
  let events: EventRecorder;
  let a: RunningService;
  let b: RunningService;
  const logsA = captureLogs();
  const logsB = captureLogs();

  before(async () => {
    server = await startNatsServer();
    bus = await producerBus(server.url);
    events = await EventRecorder.start(bus);
    // MAX_IN_FLIGHT=2 keeps each replica's pull batch small, so both replicas see work.
    a = await startService(ragWorkerService, baseEnv(server.url, 'rag-a', { MAX_IN_FLIGHT: '2' }), { logDestination: logsA.stream });
    b = await startService(ragWorkerService, baseEnv(server.url, 'rag-b', { MAX_IN_FLIGHT: '2' }), { logDestination: logsB.stream });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await events?.stop();
    await bus?.drain();
    await server?.stop();
  });

  test('a KB question: INTENT_DETECTED, then every sentence in order, then READY, all for the turn', async () => {
    const sid = newSessionId();
    const turn = newTurnId();
    const cmd = await sendQuery(bus, sid, turn, { text: 'how fast is express shipping' });
    const ready = (await events.waitFor(sid, 'RAG_ANSWER_READY')).event;
    const seen = events.of(sid);
    const types = seen.map((s) => s.event.eventType);
    const partials = seen.filter((s) => s.event.eventType === 'RAG_ANSWER_PARTIAL');
    assert.equal(types[0], 'INTENT_DETECTED', types.join());
    assert.equal(types[types.length - 1], 'RAG_ANSWER_READY');
    assert.ok(partials.length >= 1, 'at least one sentence');
    assert.deepEqual(
      partials.map((p) => p.event.ragAnswerPartial!.index),
      partials.map((_, i) => i),
      'partials in order, indexed from 0',
    );
    const r = ready.ragAnswerReady!;
    assert.equal(r.turnId, turn);
    assert.equal(r.intent, 'faq_question');
    assert.deepEqual(r.sourceIds, ['shipping-times']);
    assert.equal(r.text, partials.map((p) => p.event.ragAnswerPartial!.text).join(' '), 'READY text = the partials');
    assert.equal(r.clarify, false);
    assert.equal(r.escalate, false);
    assert.ok(Number.isInteger(r.firstPartialMs) && Number.isInteger(r.totalMs), 'whole milliseconds');
    assert.ok(r.totalMs >= r.firstPartialMs);
    for (const s of seen) {
      assert.equal(s.event.correlationId, turn, 'correlation id = turn id');
      assert.equal(s.event.source, 'rag-worker');
      assert.ok(s.event.eventId.startsWith(`${cmd.commandId}:`), `deterministic id ${s.event.eventId}`);
    }
    assert.equal(seen[0]!.event.intentDetected!.turnId, turn);
    // Intent is its own event, on the stream before any answer text (the session can act on it early).
    assert.ok(seen[0]!.seq < partials[0]!.seq);
    assert.ok(seen[0]!.event.timestamp <= partials[0]!.event.timestamp);
  });

  test('follow-up questions are resolved from the history the command carries', async () => {
    const sid = newSessionId();
    const t1 = newTurnId();
    await sendQuery(bus, sid, t1, { text: 'how fast is express shipping' });
    const first = (await events.waitFor(sid, 'RAG_ANSWER_READY', t1)).event;
    const t2 = newTurnId();
    await sendQuery(bus, sid, t2, { text: 'and how much does that cost', history: [contextOf('how fast is express shipping', first)] });
    const follow = (await events.waitFor(sid, 'RAG_ANSWER_READY', t2)).event.ragAnswerReady!;
    assert.deepEqual(follow.sourceIds, ['shipping-costs']);
    assert.match(follow.text, /12 dollars 99/);
    // The same words without that history are about something else.
    const s2 = newSessionId();
    const giftCard = { turnId: 'turn_x', userText: 'can i use my gift card online', agentText: 'You can use several gift cards on one order.', intent: 'faq_question', sourceIds: ['gift-cards'] };
    const t3 = newTurnId();
    const t4 = newTurnId();
    await sendQuery(bus, s2, t3, { text: 'what if i lose it', history: [giftCard] });
    await sendQuery(bus, s2, t4, { text: 'what if i lose it' });
    const withCtx = (await events.waitFor(s2, 'RAG_ANSWER_READY', t3)).event.ragAnswerReady!;
    const without = (await events.waitFor(s2, 'RAG_ANSWER_READY', t4)).event.ragAnswerReady!;
    assert.deepEqual(withCtx.sourceIds, ['gift-cards']);
    assert.notDeepEqual(without.sourceIds, ['gift-cards']);
  });

  test('"I want to talk to a person": READY with escalate, then ESCALATION_REQUESTED', async () => {
    const sid = newSessionId();
    const turn = newTurnId();
    await sendQuery(bus, sid, turn, { text: 'I want to talk to a person' });
    const esc = await events.waitFor(sid, 'ESCALATION_REQUESTED');
    const ready = events.of(sid).find((s) => s.event.eventType === 'RAG_ANSWER_READY')!;
    assert.equal(ready.event.ragAnswerReady!.escalate, true);
    assert.equal(ready.event.ragAnswerReady!.intent, 'talk_to_human');
    assert.equal(esc.event.escalationRequested!.turnId, turn);
    assert.equal(esc.event.correlationId, turn);
    assert.ok(ready.seq < esc.seq, 'the hand-over sentence first, then the escalation');
    const intent = events.of(sid).find((s) => s.event.eventType === 'INTENT_DETECTED')!;
    assert.equal(intent.event.intentDetected!.intent, 'talk_to_human');
  });

  test('Telugu query text passes intact (mixed query answered from its English part)', async () => {
    const telugu = 'నా ఆర్డర్ ఎక్కడ ఉంది';
    const sid = newSessionId();
    const turn = newTurnId();
    const cmd = await sendQuery(bus, sid, turn, { text: `${telugu} where is my order`, language: 'te-IN' });
    const ready = (await events.waitFor(sid, 'RAG_ANSWER_READY')).event.ragAnswerReady!;
    assert.deepEqual(ready.sourceIds, ['order-tracking']);
    // The query reached the engine byte for byte: the engine echoes it in its result, which the
    // worker logs under `transcript` (redacted by default, so read the unredacted query back
    // through the command itself on the stream).
    const stored = await bus.jsm.streams.getMessage(STREAMS.cmd.rag, { last_by_subj: subjects.command('rag', sid, 'RAG_QUERY') });
    assert.equal(decodeCommand(stored!.data).ragQuery!.text, `${telugu} where is my order`);
    await eventually(() => answeredBy(logsA, cmd.commandId) || answeredBy(logsB, cmd.commandId), 'answer logged');
  });

  test('a RAG_CANCEL that arrives before its query: the query publishes nothing', async () => {
    const sid = newSessionId();
    const cancelledTurn = newTurnId();
    await sendCancel(bus, sid, cancelledTurn, 'superseded');
    // Fan-out: every replica hears the cancel.
    const remembered = (l: LogCapture) => l.lines.some((x) => x['msg'] === 'turn cancel remembered' && x['turnId'] === cancelledTurn && x['sessionId'] === sid);
    await eventually(() => remembered(logsA) && remembered(logsB), 'both replicas remember the cancel');
    const skipped = await sendQuery(bus, sid, cancelledTurn, { text: 'where is my order' });
    const skippedLog = (l: LogCapture) => l.lines.some((x) => x['msg'] === 'query skipped: the turn was already cancelled' && x['commandId'] === skipped.commandId);
    await eventually(() => skippedLog(logsA) || skippedLog(logsB), 'query skipped');
    // The next turn of the same call is answered normally.
    const next = newTurnId();
    await sendQuery(bus, sid, next, { text: 'where is my order' });
    await events.waitFor(sid, 'RAG_ANSWER_READY', next);
    await sleep(200);
    assert.deepEqual(events.types(sid, cancelledTurn), [], 'nothing for the cancelled turn');
    assert.ok((await metricValue(a.url, 'switchboard_rag_queries_cancelled_total', { reason: 'cancelled_before_start' })) + (await metricValue(b.url, 'switchboard_rag_queries_cancelled_total', { reason: 'cancelled_before_start' })) >= 1);
  });

  test('a duplicated command: every event exactly once on the stream', async () => {
    const sid = newSessionId();
    const turn = newTurnId();
    const cmd = queryCommand(sid, turn, { text: 'how do i reset my password' });
    // The same command twice as two stream messages (what a redelivery looks like to a worker).
    await bus.publish(subjects.command('rag', sid, 'RAG_QUERY'), encodeCommand(cmd), { msgId: `${cmd.commandId}#1` });
    await bus.publish(subjects.command('rag', sid, 'RAG_QUERY'), encodeCommand(cmd), { msgId: `${cmd.commandId}#2` });
    const handled = () => logsA.lines.concat(logsB.lines).filter((l) => l['msg'] === 'query answered' && l['commandId'] === cmd.commandId).length;
    await eventually(() => handled() === 2, 'both copies handled');
    await sleep(200);
    const ids = events.of(sid).map((s) => s.event.eventId);
    assert.ok(ids.length >= 3, ids.join());
    assert.equal(new Set(ids).size, ids.length, `no duplicates: ${ids.join()}`);
    assert.equal(events.types(sid).filter((t) => t === 'RAG_ANSWER_READY').length, 1);
    assert.equal(events.types(sid).filter((t) => t === 'INTENT_DETECTED').length, 1);
  });

  test('both replicas take work from the shared consumer', async () => {
    const sessions = Array.from({ length: 30 }, () => newSessionId());
    const texts = ['where is my order', 'how do i reset my password', 'what is your refund policy', 'are you open on sunday', 'can i change my email address'];
    const cmds = await Promise.all(sessions.map((sid, i) => sendQuery(bus, sid, newTurnId(), { text: texts[i % texts.length]! })));
    await eventually(() => sessions.every((sid) => events.of(sid).some((s) => s.event.eventType === 'RAG_ANSWER_READY')), '30 answers', 20_000);
    // The worker logs after publishing READY: wait for the log lines too.
    const byA = () => cmds.filter((c) => answeredBy(logsA, c.commandId)).length;
    const byB = () => cmds.filter((c) => answeredBy(logsB, c.commandId)).length;
    await eventually(() => byA() + byB() >= 30, 'answer log lines');
    await sleep(100);
    assert.equal(byA() + byB(), 30, `each query answered once (a=${byA()}, b=${byB()})`);
    assert.ok(byA() > 0 && byB() > 0, `both replicas worked (a=${byA()}, b=${byB()})`);
  });

  test('an invalid command goes to the DLQ as invalid; logs carry the session, transcripts stay redacted', async () => {
    const sid = newSessionId();
    const bad = queryCommand(sid, newTurnId(), { text: '   ' }); // blank text is refused by the contract
    await bus.publishCommand('rag', bad);
    const dlq = await eventually(
      async () => bus.jsm.streams.getMessage(STREAMS.dlq, { last_by_subj: 'voice.dlq.rag-worker.invalid' }).catch(() => undefined),
      'dead letter',
    );
    assert.equal(dlq.header.get(HEADERS.dlqReason), 'invalid');
    assert.equal((JSON.parse(new TextDecoder().decode(dlq.data)) as { commandId: string }).commandId, bad.commandId);
    assert.deepEqual(events.types(sid), []);

    const answered = logsA.lines.concat(logsB.lines).filter((l) => l['msg'] === 'query answered');
    assert.ok(answered.length > 0);
    for (const l of answered) {
      assert.match(String(l['sessionId']), /^ses_/, 'per-session child logger');
      assert.equal(l['transcript'], '[redacted]');
    }
    const all = JSON.stringify(logsA.lines.concat(logsB.lines));
    assert.ok(!all.includes('reset my password'), 'no caller words outside the transcript key');

    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    for (const name of ['switchboard_rag_query_latency_ms_bucket{', 'switchboard_rag_queries_in_flight', 'switchboard_rag_queries_answered_total{']) {
      assert.ok(metrics.includes(name), `${name} in /metrics`);
    }
    assert.match(metrics, /switchboard_rag_query_latency_ms_count\{[^}]*stage="first_partial"[^}]*\} [1-9]/);
    const kb = (await (await fetch(`${a.url}/kb`)).json()) as { articles: number };
    assert.ok(kb.articles >= 30);
  });
});

describe('rag-worker with an LLM provider on a local server', () => {
  let server: NatsServerHandle;
  let bus: Bus;
  let events: EventRecorder;
  let llm: FakeLlm;
  let w1: RunningService;
  const logs = captureLogs();
  const env = (replica: string) =>
    baseEnv(server.url, replica, {
      LLM_BASE_URL: llm.baseUrl,
      LLM_MODEL: 'tiny-model',
      LLM_FALLBACK: '0', // a failing model fails the turn (the bus retries it) instead of answering extractively
      LLM_MAX_RETRIES: '0',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '3000',
      LLM_IDLE_TIMEOUT_MS: '3000',
      MAX_DELIVER: '3',
    });

  before(async () => {
    server = await startNatsServer();
    llm = await new FakeLlm().start();
    bus = await producerBus(server.url);
    events = await EventRecorder.start(bus);
    w1 = await startService(ragWorkerService, env('rag-llm-1'), { logDestination: logs.stream });
  });
  after(async () => {
    await w1?.stop();
    await events?.stop();
    await bus?.drain();
    await llm?.stop();
    await server?.stop();
  });

  test('streams the model answer sentence by sentence; Telugu passes intact both ways', async () => {
    const telugu = 'నా ఆర్డర్ ఎక్కడ ఉంది';
    llm.reset({ kind: 'reply', pieces: ['మీ ఆర్డర్ రేపు ', 'వస్తుంది. ', 'ధన్యవాదాలు.'] });
    const sid = newSessionId();
    const turn = newTurnId();
    await sendQuery(bus, sid, turn, { text: `${telugu} where is my order`, language: 'te-IN' });
    const ready = (await events.waitFor(sid, 'RAG_ANSWER_READY')).event.ragAnswerReady!;
    const msgs = llm.requests[0]!.body.messages!;
    assert.equal(msgs[msgs.length - 1]!.content, `${telugu} where is my order`, 'the model got the query byte for byte');
    assert.match(msgs[0]!.content, /te-IN/);
    const partials = events.of(sid).filter((s) => s.event.eventType === 'RAG_ANSWER_PARTIAL').map((s) => s.event.ragAnswerPartial!.text);
    assert.deepEqual(partials, ['మీ ఆర్డర్ రేపు వస్తుంది.', 'ధన్యవాదాలు.']);
    assert.equal(ready.text, 'మీ ఆర్డర్ రేపు వస్తుంది. ధన్యవాదాలు.');
  });

  test('RAG_CANCEL during a slow answer: nothing is published after it, the model stream is closed', async () => {
    llm.reset({ kind: 'slow', firstMs: 300, gapMs: 500 });
    const sid = newSessionId();
    const turn = newTurnId();
    await sendQuery(bus, sid, turn, { text: 'where is my order' });
    const intent = await events.waitFor(sid, 'INTENT_DETECTED');
    const first = await events.waitFor(sid, 'RAG_ANSWER_PARTIAL');
    // Intent does not wait for the answer: it was on the stream while the model was still silent.
    assert.ok(first.at - intent.at >= 200, `intent ${first.at - intent.at} ms before the first sentence`);
    const cancelAt = Date.now();
    await sendCancel(bus, sid, turn, 'barge_in');
    await eventually(() => logs.lines.some((l) => l['msg'] === 'query cancelled; nothing more is published for the turn' && l['turnId'] === turn), 'cancel observed');
    await eventually(() => llm.requests[0]?.closedEarly, 'model stream closed');
    await sleep(1200); // the model would have produced two more sentences by now
    const seen = events.of(sid);
    assert.deepEqual(seen.map((s) => s.event.eventType), ['INTENT_DETECTED', 'RAG_ANSWER_PARTIAL']);
    assert.ok(seen.every((s) => s.event.timestamp <= cancelAt + 100), 'nothing published after the cancel');
    assert.ok(llm.requests[0]!.chunksSent < 5);
    assert.equal(await metricValue(w1.url, 'switchboard_rag_queries_cancelled_total', { reason: 'cancel' }), 1);
    assert.equal(await metricValue(w1.url, 'switchboard_rag_queries_in_flight'), 0);
  });

  test('the command deadline passes mid-answer: nothing more for the turn, no READY, no ERROR', async () => {
    llm.reset({ kind: 'slow', firstMs: 200, gapMs: 500 });
    const sid = newSessionId();
    const turn = newTurnId();
    const deadline = Date.now() + 450;
    await sendQuery(bus, sid, turn, { text: 'where is my order', deadline });
    await eventually(() => logs.lines.some((l) => l['msg'] === 'query deadline passed; nothing more is published for the turn' && l['turnId'] === turn), 'deadline observed');
    await sleep(800);
    const seen = events.of(sid);
    assert.ok(!seen.some((s) => ['RAG_ANSWER_READY', 'ERROR'].includes(s.event.eventType)), seen.map((s) => s.event.eventType).join());
    assert.ok(seen.every((s) => s.event.timestamp <= deadline + 50), 'nothing after the deadline');
    assert.ok(llm.requests[0]!.closedEarly);
  });

  test('a model that always fails: retried MAX_DELIVER times, then an ERROR event and the command in the DLQ', async () => {
    llm.reset({ kind: 'fail' });
    const sid = newSessionId();
    const turn = newTurnId();
    const cmd = await sendQuery(bus, sid, turn, { text: 'where is my order' });
    const err = (await events.waitFor(sid, 'ERROR')).event;
    assert.deepEqual(
      { code: err.error!.code, stage: err.error!.stage, turnId: err.error!.turnId, retryable: err.error!.retryable, correlationId: err.correlationId },
      { code: 'http', stage: 'rag', turnId: turn, retryable: true, correlationId: turn },
    );
    assert.equal(llm.requests.length, 3, 'one model call per delivery');
    const dlq = await eventually(
      async () => bus.jsm.streams.getMessage(STREAMS.dlq, { last_by_subj: 'voice.dlq.rag-worker.max_deliveries' }).catch(() => undefined),
      'dead letter',
    );
    assert.equal(dlq.header.get(HEADERS.dlqReason), 'max_deliveries');
    assert.equal(decodeCommand(dlq.data as Uint8Array).commandId, cmd.commandId);
    await sleep(300);
    // INTENT_DETECTED was published on each of the three deliveries, and is on the stream once.
    assert.deepEqual(events.types(sid), ['INTENT_DETECTED', 'ERROR']);
    assert.equal(await metricValue(w1.url, 'switchboard_rag_queries_failed_total', { code: 'http', last: 'false' }), 2);
    assert.equal(await metricValue(w1.url, 'switchboard_rag_queries_failed_total', { code: 'http', last: 'true' }), 1);
  });

  test('a redelivered command (model failed once): every event exactly once', async () => {
    llm.reset({ kind: 'fail-once' });
    const sid = newSessionId();
    const turn = newTurnId();
    await sendQuery(bus, sid, turn, { text: 'where is my order' });
    await events.waitFor(sid, 'RAG_ANSWER_READY');
    assert.equal(llm.requests.length, 2, 'answered on the second delivery');
    await sleep(200);
    assert.deepEqual(events.types(sid), ['INTENT_DETECTED', 'RAG_ANSWER_PARTIAL', 'RAG_ANSWER_READY']);
  });

  test('graceful stop hands an in-flight query to another replica; the call still gets one answer', async () => {
    const logs2 = captureLogs();
    const w2 = await startService(ragWorkerService, env('rag-llm-2'), { logDestination: logs2.stream });
    try {
      llm.reset({ kind: 'slow', firstMs: 100, gapMs: 150 });
      const answeredBefore = { w1: await metricValue(w1.url, 'switchboard_rag_queries_answered_total'), w2: 0 };
      const sid = newSessionId();
      const turn = newTurnId();
      await sendQuery(bus, sid, turn, { text: 'where is my order' });
      await events.waitFor(sid, 'RAG_ANSWER_PARTIAL');
      const [holder, other] = (await metricValue(w1.url, 'switchboard_rag_queries_in_flight')) === 1 ? [w1, w2] : [w2, w1];
      assert.equal(await metricValue(holder.url, 'switchboard_rag_queries_in_flight'), 1, 'one replica holds the query');
      await holder.stop();
      const ready = (await events.waitFor(sid, 'RAG_ANSWER_READY', turn, 15_000)).event.ragAnswerReady!;
      assert.equal(llm.requests.length, 2, 'the second replica asked the model again');
      const partials = events.of(sid).filter((s) => s.event.eventType === 'RAG_ANSWER_PARTIAL');
      assert.deepEqual(partials.map((p) => p.event.ragAnswerPartial!.index), [0, 1, 2, 3, 4], 'each sentence once, in order');
      assert.equal(events.types(sid).filter((t) => t === 'INTENT_DETECTED').length, 1);
      assert.match(ready.text, /sentence five/);
      const expected = 1 + (other === w1 ? answeredBefore.w1 : answeredBefore.w2);
      await eventually(async () => (await metricValue(other.url, 'switchboard_rag_queries_answered_total')) >= expected, 'answer counted');
      assert.equal(await metricValue(other.url, 'switchboard_rag_queries_answered_total'), expected, 'answered once, by the other replica');
      // The stopped replica removed its own cancel consumer.
      const names: string[] = [];
      for await (const c of bus.jsm.consumers.list(STREAMS.cmd.rag)) names.push(c.name);
      const stoppedName = cancelConsumerName(holder === w1 ? 'rag-llm-1' : 'rag-llm-2');
      assert.ok(!names.includes(stoppedName), `${stoppedName} deleted: ${names.join()}`);
      if (holder === w1) w1 = w2; // keep a running replica for `after`
    } finally {
      if (w1 !== w2) await w2.stop();
    }
  });
});
