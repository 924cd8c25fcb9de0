// The pure parts of the rag-worker shell (cancel memory, event mapping, configuration), and
// main.ts as a real process: starts, answers, drains on SIGTERM.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ConfigError } from '@switchboard/runtime';
import { LIMITS, newSessionId, newTurnId } from '@switchboard/contracts';
import { eventually, spawnNode, startNatsServer } from '@switchboard/testkit';
import { DEFAULT_KB_DIR, RagWorkerConfigSchema, linkSignals, TurnCancelled, TurnRegistry, assertValidEvent, busEventsFor, cancelConsumerName, engineConfigOf, eventIdFor } from '../src/index';
import type { AnswerResult } from '../src/index';
import { EventRecorder, producerBus, sendQuery } from './harness';

describe('TurnRegistry (cancel memory)', () => {
  it('aborts a running turn, and remembers a cancel that comes before its query', () => {
    const reg = new TurnRegistry({ ttlMs: 1000, maxEntries: 10 });
    const live = reg.begin('s1', 't1')!;
    assert.equal(reg.cancel('s1', 't1', 'barge_in'), 'aborted_in_flight');
    assert.ok(live.signal.aborted);
    assert.ok(live.signal.reason instanceof TurnCancelled);
    assert.equal((live.signal.reason as TurnCancelled).reason, 'barge_in');
    reg.end(live);
    assert.equal(reg.cancel('s1', 't2', 'superseded'), 'remembered');
    assert.equal(reg.begin('s1', 't2'), undefined, 'a cancelled turn never starts');
    assert.ok(reg.begin('s2', 't2'), 'same turn id, other session: unaffected');
  });

  it('forgets cancels after the TTL and keeps at most maxEntries (oldest out first)', () => {
    let now = 0;
    const reg = new TurnRegistry({ ttlMs: 100, maxEntries: 3, now: () => now });
    reg.cancel('s', 'a', '');
    now = 50;
    assert.ok(reg.isCancelled('s', 'a'));
    now = 101;
    assert.ok(!reg.isCancelled('s', 'a'), 'expired');
    for (const t of ['b', 'c', 'd', 'e']) reg.cancel('s', t, '');
    assert.equal(reg.stats.remembered, 3);
    assert.ok(!reg.isCancelled('s', 'b'), 'oldest evicted');
    assert.ok(reg.isCancelled('s', 'e'));
  });

  it('end() releases the live entry; cancelling after the end only remembers', () => {
    const reg = new TurnRegistry({ ttlMs: 1000, maxEntries: 10 });
    const t = reg.begin('s', 't')!;
    reg.end(t);
    reg.end(t); // idempotent
    assert.equal(reg.stats.live, 0);
    assert.equal(reg.cancel('s', 't', ''), 'remembered');
    assert.ok(!t.signal.aborted);
  });
});

describe('linkSignals', () => {
  it('aborts with the first source’s reason, and leaves no listener on long-lived sources', () => {
    const service = new AbortController();
    const turn = new AbortController();
    const l = linkSignals([turn.signal, service.signal]);
    assert.equal(getEventListeners(service.signal, 'abort').length, 1);
    turn.abort(new Error('cancelled'));
    assert.equal((l.signal.reason as Error).message, 'cancelled');
    l.dispose();
    assert.equal(getEventListeners(service.signal, 'abort').length, 0);
    for (let i = 0; i < 1000; i++) linkSignals([new AbortController().signal, service.signal]).dispose();
    assert.equal(getEventListeners(service.signal, 'abort').length, 0, 'per-query links are released');
    const pre = new AbortController();
    pre.abort('early');
    assert.equal(linkSignals([service.signal, pre.signal]).signal.reason, 'early');
  });
});

describe('answer events → bus events', () => {
  const sessionId = newSessionId();
  const turnId = newTurnId();
  const ref = { commandId: `${sessionId}:7:0`, sessionId, turnId };
  const result: AnswerResult = {
    text: 'I will connect you to a colleague.',
    intent: 'talk_to_human',
    confidence: 0.91234,
    sourceIds: [],
    clarify: false,
    escalate: true,
    provider: 'template',
    query: 'a person please',
    timings: { intentMs: 0.2, retrievalMs: 0.3, firstPartialMs: 1.6, totalMs: 2.4 },
  };

  it('derives every id from the command id and validates against the contract', () => {
    const evs = [
      ...busEventsFor(ref, { type: 'intent', intent: 'talk_to_human', confidence: 0.9 }),
      ...busEventsFor(ref, { type: 'partial', index: 0, text: 'I will connect you to a colleague.' }),
      ...busEventsFor(ref, { type: 'final', result }),
    ];
    assert.deepEqual(
      evs.map((e) => `${e.eventType} ${e.eventId}`),
      [
        `INTENT_DETECTED ${ref.commandId}:intent`,
        `RAG_ANSWER_PARTIAL ${ref.commandId}:partial:0`,
        `RAG_ANSWER_READY ${ref.commandId}:ready`,
        `ESCALATION_REQUESTED ${ref.commandId}:escalation`,
      ],
    );
    for (const e of evs) {
      assertValidEvent(e);
      assert.equal(e.correlationId, turnId);
    }
    const ready = evs[2]!.ragAnswerReady!;
    assert.equal(ready.firstPartialMs, 2);
    assert.equal(ready.totalMs, 2);
  });

  it('an empty answer is refused before it reaches the bus', () => {
    const [ready] = busEventsFor(ref, { type: 'final', result: { ...result, text: '', escalate: false } });
    assert.throws(() => assertValidEvent(ready!), /required text is empty/);
  });

  it('ids stay within the contract limit for long command ids, and stay deterministic', () => {
    const long = 'x'.repeat(LIMITS.maxIdChars);
    const id = eventIdFor(long, 'partial:12');
    assert.ok(id.length <= LIMITS.maxIdChars);
    assert.equal(id, eventIdFor(long, 'partial:12'));
    assert.notEqual(id, eventIdFor(`${long}y`, 'partial:12'));
  });

  it('cancel consumer names are valid NATS names whatever the host name', () => {
    assert.equal(cancelConsumerName('rag-worker-node.cluster.local-12'), 'rag-worker-cancel-rag-worker-node_cluster_local-12');
  });
});

describe('configuration', () => {
  const parse = (env: Record<string, string>) => RagWorkerConfigSchema.parse(env);

  it('defaults to the package kb/ and the extractive engine', () => {
    const c = parse({});
    assert.equal(c.KB_DIR, DEFAULT_KB_DIR);
    assert.match(DEFAULT_KB_DIR, /services\/rag-worker\/kb$/);
    assert.deepEqual(c.RETRY_BACKOFF_MS, [200, 1000]);
    assert.equal(engineConfigOf(c).provider.kind, 'extractive');
  });

  it('maps LLM_* onto the engine provider, and refuses half an LLM configuration', () => {
    const rc = engineConfigOf(parse({ LLM_BASE_URL: 'http://127.0.0.1:9/v1', LLM_MODEL: 'm', LLM_FALLBACK: '0', LLM_MAX_RETRIES: '1', KB_WATCH: '0' }));
    assert.equal(rc.watch, false);
    assert.ok(rc.provider.kind === 'openai');
    assert.equal(rc.provider.fallbackToExtractive, false);
    assert.equal(rc.provider.maxRetries, 1);
    assert.throws(() => engineConfigOf(parse({ LLM_BASE_URL: 'http://127.0.0.1:9/v1' })), (e: unknown) => e instanceof ConfigError && /LLM_MODEL/.test(e.message));
    assert.throws(() => parse({ RETRY_BACKOFF_MS: '100,x' }));
  });
});

describe('main.ts as a process', () => {
  it('starts, answers a query, and drains on SIGTERM with exit code 0', async () => {
    const server = await startNatsServer();
    const bus = await producerBus(server.url);
    const events = await EventRecorder.start(bus);
    const child = spawnNode(fileURLToPath(new URL('../src/main.ts', import.meta.url)), {
      env: { NATS_URL: server.url, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', PARTITIONS: '16', KB_WATCH: '0', REPLICA_ID: 'rag-main' },
    });
    try {
      await child.waitForLine(/rag-worker ready/, 20_000);
      const sid = newSessionId();
      await sendQuery(bus, sid, newTurnId(), { text: 'are you open on sunday' });
      const ready = await events.waitFor(sid, 'RAG_ANSWER_READY');
      assert.deepEqual(ready.event.ragAnswerReady!.sourceIds, ['opening-hours']);
      assert.equal(await child.kill('SIGTERM'), 0);
      assert.ok(child.lines.some((l) => l.includes('rag-worker stopped')));
      await eventually(async () => {
        const names: string[] = [];
        for await (const c of bus.jsm.consumers.list('VOICE_CMD_RAG')) names.push(c.name);
        return !names.includes('rag-worker-cancel-rag-main') && names.includes('rag-worker');
      }, 'cancel consumer removed, shared consumer kept');
    } finally {
      await child.kill('SIGKILL').catch(() => undefined);
      await events.stop();
      await bus.drain();
      await server.stop();
    }
  });
});
