// Start-up warm-up: it runs the configured number of queries through engine.answer() within its
// time budget, keeps nothing (a warmed engine answers exactly like a fresh one), and the service
// runs it before it reports ready unless RAG_WARMUP_QUERIES=0.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService } from '@switchboard/runtime';
import { captureLogs, startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { RagWorkerConfigSchema, WARMUP_PHRASES, createRagEngine, ragWorkerService, warmUp } from '../src/index';
import type { AnswerQuery, AnswerResult, RagEngine } from '../src/index';
import { loadEvalSet } from '../src/eval/evaluate';
import { collect } from './helpers';
import { baseEnv } from './harness';

/** The engine with its answer() counted: every query, and how many streams reached their final event. */
function spied(engine: RagEngine, delayMs = 0) {
  const queries: AnswerQuery[] = [];
  let finals = 0;
  const answer = async function* (q: AnswerQuery) {
    queries.push(q);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    for await (const ev of engine.answer(q)) {
      if (ev.type === 'final') finals++;
      yield ev;
    }
  };
  return { engine: { ...engine, answer }, queries, finals: () => finals };
}

const withoutTimings = ({ timings: _t, ...rest }: AnswerResult) => rest;

describe('warmUp', () => {
  let engine: RagEngine;
  before(async () => {
    engine = await createRagEngine({ watch: false });
  });
  after(async () => {
    await engine?.close();
  });

  test('answers the configured number of queries to their end, cycling the phrases, without history, within the budget', async () => {
    const n = WARMUP_PHRASES.length + 5;
    const spy = spied(engine);
    const r = await warmUp(spy.engine, { queries: n, budgetMs: 5_000 });
    assert.equal(r.count, n);
    assert.equal(r.stopped, 'done');
    assert.ok(r.ms < 5_000, `${r.ms} ms`);
    assert.equal(spy.queries.length, n);
    assert.equal(spy.finals(), n);
    assert.deepEqual(
      spy.queries.map((q) => q.text),
      Array.from({ length: n }, (_, i) => WARMUP_PHRASES[i % WARMUP_PHRASES.length]),
    );
    assert.ok(spy.queries.every((q) => q.history === undefined && q.skipIntent === undefined));
  });

  test('starts no query after the budget is spent', async () => {
    const spy = spied(engine, 40);
    const r = await warmUp(spy.engine, { queries: 30, budgetMs: 100 });
    assert.equal(r.stopped, 'budget');
    assert.ok(r.count >= 1 && r.count <= 4, `${r.count} queries`);
    assert.equal(spy.queries.length, r.count);
    assert.ok(r.ms >= 100, `${r.ms} ms`);
  });

  test('0 queries: answer() is never called; an aborted signal stops it', async () => {
    const none = spied(engine);
    assert.deepEqual({ ...(await warmUp(none.engine, { queries: 0, budgetMs: 1_500 })), ms: 0 }, { count: 0, ms: 0, stopped: 'done' });
    assert.equal(none.queries.length, 0);
    const ac = new AbortController();
    ac.abort();
    const aborted = spied(engine);
    const r = await warmUp(aborted.engine, { queries: 10, budgetMs: 1_500, signal: ac.signal });
    assert.equal(r.stopped, 'aborted');
    assert.equal(aborted.queries.length, 0);
  });

  test('a warmed engine answers exactly like a fresh one', async () => {
    const warmed = await createRagEngine({ watch: false });
    const fresh = await createRagEngine({ watch: false });
    try {
      const spy = spied(warmed);
      await warmUp(spy.engine, { queries: 32, budgetMs: 5_000 });
      assert.equal(spy.finals(), 32);
      const items = [{ text: 'how do I reset my password' }, ...WARMUP_PHRASES.map((text) => ({ text })), ...(await loadEvalSet())];
      for (const item of items) {
        const q = { text: item.text, ...('history' in item && item.history ? { history: item.history } : {}) };
        const a = (await collect(warmed, q)).result;
        const b = (await collect(fresh, q)).result;
        assert.deepEqual(withoutTimings(a), withoutTimings(b), item.text);
      }
      const reset = (await collect(warmed, { text: 'how do I reset my password' })).result;
      assert.deepEqual(reset.sourceIds, ['reset-password']);
      assert.equal(warmed.stats().version, 1);
    } finally {
      await warmed.close();
      await fresh.close();
    }
  });
});

describe('the service warms its engine before it reports ready', () => {
  let server: NatsServerHandle;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server?.stop();
  });
  const env = (replica: string, extra: Record<string, string>) => baseEnv(server.url, replica, extra);

  test('RAG_WARMUP_QUERIES defaults to 32, and the budget to 1.5 s', () => {
    const c = RagWorkerConfigSchema.parse({});
    assert.equal(c.RAG_WARMUP_QUERIES, 32);
    assert.equal(c.RAG_WARMUP_BUDGET_MS, 1_500);
    assert.throws(() => RagWorkerConfigSchema.parse({ RAG_WARMUP_QUERIES: '-1' }));
  });

  test('RAG_WARMUP_QUERIES=7: one info line with the count, before ready, without the query texts', async () => {
    const logs = captureLogs();
    const svc = await startService(ragWorkerService, env('rag-warm-7', { RAG_WARMUP_QUERIES: '7' }), { logDestination: logs.stream });
    await svc.stop();
    const msgs = logs.lines.map((l) => l['msg']);
    const warmed = logs.lines.filter((l) => l['msg'] === 'rag engine warmed');
    assert.equal(warmed.length, 1);
    assert.equal(warmed[0]!['queries'], 7);
    assert.equal(warmed[0]!['stopped'], 'done');
    assert.equal(typeof warmed[0]!['ms'], 'number');
    assert.ok(msgs.indexOf('rag engine warmed') < msgs.indexOf('rag-worker ready'), msgs.join(' | '));
    const all = JSON.stringify(logs.lines);
    for (const text of WARMUP_PHRASES.slice(0, 7)) if (text.length > 8) assert.ok(!all.includes(text), text);
  });

  test('RAG_WARMUP_QUERIES=0: no warm-up', async () => {
    const logs = captureLogs();
    const svc = await startService(ragWorkerService, env('rag-warm-0', { RAG_WARMUP_QUERIES: '0' }), { logDestination: logs.stream });
    await svc.stop();
    assert.ok(logs.lines.some((l) => l['msg'] === 'rag-worker ready'));
    assert.ok(!logs.lines.some((l) => typeof l['msg'] === 'string' && l['msg'].includes('warm')));
  });

  test('with a model phrasing the answers: skipped (the queries would go to the model)', async () => {
    const logs = captureLogs();
    const svc = await startService(
      ragWorkerService,
      env('rag-warm-llm', { RAG_WARMUP_QUERIES: '7', LLM_BASE_URL: 'http://127.0.0.1:9/v1', LLM_MODEL: 'm' }),
      { logDestination: logs.stream },
    );
    await svc.stop();
    assert.ok(logs.lines.some((l) => l['msg'] === 'rag engine warm-up skipped: a model phrases the answers'));
    assert.ok(!logs.lines.some((l) => l['msg'] === 'rag engine warmed'));
  });
});
