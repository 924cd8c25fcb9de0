// The rag-worker as a service over NATS: RAG_QUERY published → INTENT_DETECTED / first
// RAG_ANSWER_PARTIAL / RAG_ANSWER_READY seen on VOICE_EVENTS, against the floor of the same
// two-hop path with a handler that does no work (measured in the same run, same server).
// Also: accuracy over the bus (the eval set's expected article vs READY.sourceIds).
// Run: node --expose-gc --import tsx bench/rag/service.ts [--rounds 3] [--concurrency 8] [--json]
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DeliverPolicy } from '@nats-io/jetstream';
import { Bus, consume, durableConsumer, provision } from '@switchboard/bus';
import { STREAMS, decodeCommand, decodeEvent, makeCommand, makeEvent, newSessionId, newTurnId, subjects, type Event } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { startNatsServer } from '@switchboard/testkit';
import { startService } from '../../libs/runtime/src/index';
import { ragWorkerService } from '../../services/rag-worker/src/index';
import { loadEvalSet, type EvalItem } from '../../services/rag-worker/src/eval/evaluate';
import { fmt, hrMs, summarize } from '../stats';

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '8' }, json: { type: 'boolean', default: false } },
});
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);

const server = await startNatsServer();
const log = createLogger({ service: 'bench', level: 'warn' });
const bus = await Bus.connect({ servers: server.url, service: 'bench', log, partitions: 64 });
await provision(bus.nc, bus.jsm);

// Every event, as an orchestrator would get it (an ordered consumer), routed to its waiter.
type Waiter = { onEvent(e: Event, at: bigint): void };
const waiters = new Map<string, Waiter>();
const events = await bus.js.consumers.get(STREAMS.events, { filter_subjects: subjects.eventsAll, deliver_policy: DeliverPolicy.New });
const eventSub = await events.consume({
  callback: (m) => {
    const at = process.hrtime.bigint();
    const e = decodeEvent(m.data);
    waiters.get(e.correlationId)?.onEvent(e, at);
  },
});

interface Sample {
  intentMs: number;
  firstPartialMs: number;
  readyMs: number;
  engineMs: number;
  /** Only what the accuracy needs (keeping whole events would grow this process's heap). */
  ready: { intent: string; top: string | undefined; clarify: boolean };
}

/** Publishes one query and resolves when its READY (or ERROR) is seen. */
function query(item: Pick<EvalItem, 'text' | 'history'>, n: number): Promise<Sample> {
  const sessionId = newSessionId();
  const turnId = newTurnId();
  const cmd = makeCommand(
    'RAG_QUERY',
    { sessionId, source: 'bench', commandId: `${sessionId}:${n}:0`, correlationId: turnId },
    { turnId, text: item.text, history: (item.history ?? []).map((h) => ({ turnId: '', ...h })) },
  );
  return new Promise<Sample>((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = (at: bigint): number => Number(at - t0) / 1e6;
    let intentMs = NaN;
    let firstPartialMs = NaN;
    waiters.set(turnId, {
      onEvent(e, at) {
        if (e.eventType === 'INTENT_DETECTED') intentMs = ms(at);
        else if (e.eventType === 'RAG_ANSWER_PARTIAL' && Number.isNaN(firstPartialMs)) firstPartialMs = ms(at);
        else if (e.eventType === 'RAG_ANSWER_READY') {
          waiters.delete(turnId);
          const r = e.ragAnswerReady!;
          resolve({
            intentMs,
            firstPartialMs: Number.isNaN(firstPartialMs) ? ms(at) : firstPartialMs,
            readyMs: ms(at),
            engineMs: r.totalMs,
            ready: { intent: r.intent, top: r.sourceIds[0], clarify: r.clarify },
          });
        } else if (e.eventType === 'ERROR') {
          waiters.delete(turnId);
          reject(new Error(`ERROR event: ${e.error?.code} ${e.error?.message}`));
        }
      },
    });
    bus.publishCommand('rag', cmd).catch(reject);
  });
}

async function runAll(items: EvalItem[], concurrency: number): Promise<{ samples: Array<Sample & { item: EvalItem }>; wallMs: number }> {
  const samples: Array<Sample & { item: EvalItem }> = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        const item = items[i]!;
        samples.push({ ...(await query(item, i)), item });
      }
    }),
  );
  return { samples, wallMs: hrMs(t0) };
}

// ---- the floor: the same command → event path with a handler that does no work ----
const floorConsumer = await consume(bus, {
  stream: STREAMS.cmd.rag,
  consumer: 'bench-floor',
  config: durableConsumer('bench-floor', subjects.commandsOfType('rag', 'RAG_QUERY'), { deliver_policy: DeliverPolicy.New }),
  decode: (m) => decodeCommand(m.data),
  keyOf: (c) => c.sessionId,
  maxInFlight: 16,
  handle: async (cmd) => {
    const ref = { sessionId: cmd.sessionId, source: 'bench', correlationId: cmd.correlationId };
    await bus.publishEvent(makeEvent('INTENT_DETECTED', { ...ref, eventId: `${cmd.commandId}:intent` }, { turnId: cmd.correlationId, intent: 'faq_question', confidence: 0.9 }));
    await bus.publishEvent(makeEvent('RAG_ANSWER_PARTIAL', { ...ref, eventId: `${cmd.commandId}:partial:0` }, { turnId: cmd.correlationId, index: 0, text: 'A fixed sentence.' }));
    await bus.publishEvent(makeEvent('RAG_ANSWER_READY', { ...ref, eventId: `${cmd.commandId}:ready` }, { turnId: cmd.correlationId, text: 'A fixed sentence.', totalMs: 0 }));
  },
});
const evalItems = await loadEvalSet();
const items = Array.from({ length: ROUNDS }, () => evalItems).flat();
await runAll(evalItems.slice(0, 10), 1); // warm-up
const floorSeq = await runAll(items, 1);
await floorConsumer.stop();
await bus.jsm.consumers.delete(STREAMS.cmd.rag, 'bench-floor');
// The worker's durable consumer starts from the stream's beginning: it must not find the floor's commands.
await bus.jsm.streams.purge(STREAMS.cmd.rag);

// ---- the service ----
const sink = new Writable({ write: (_c, _e, cb) => cb() });
const svc = await startService(ragWorkerService, { NATS_URL: server.url, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', PARTITIONS: '64', KB_WATCH: '0', LOG_LEVEL: 'warn', MAX_IN_FLIGHT: '16', REPLICA_ID: 'bench' }, { logDestination: sink });
await runAll(evalItems.slice(0, 10), 1); // warm-up
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const seq = await runAll(items, 1);
const par = await runAll(items, CONCURRENCY);
gc?.();
const heapGrowthMb = gc ? (process.memoryUsage().heapUsed - heapBefore) / 1e6 : undefined;

const withArticle = seq.samples.filter((s) => s.item.articleId !== null && s.item.articleId !== undefined);
const top1 = withArticle.filter((s) => s.ready.top === s.item.articleId && !s.ready.clarify).length / Math.max(1, withArticle.length);
const intentOk = seq.samples.filter((s) => s.ready.intent === s.item.intent).length / seq.samples.length;

const report = {
  queries: items.length,
  floor: { intentMs: summarize(floorSeq.samples.map((s) => s.intentMs)), readyMs: summarize(floorSeq.samples.map((s) => s.readyMs)) },
  sequential: {
    intentMs: summarize(seq.samples.map((s) => s.intentMs)),
    firstPartialMs: summarize(seq.samples.map((s) => s.firstPartialMs)),
    readyMs: summarize(seq.samples.map((s) => s.readyMs)),
    engineMs: summarize(seq.samples.map((s) => s.engineMs)),
  },
  concurrent: { concurrency: CONCURRENCY, readyMs: summarize(par.samples.map((s) => s.readyMs)), queriesPerSecond: (items.length / par.wallMs) * 1000 },
  accuracyOverBus: { intent: intentOk, articleTop1: top1 },
  /** Heap growth of this process (bench + worker) over both runs, after GC (run with --expose-gc). */
  heapGrowthMb,
};

if (values.json) console.log(JSON.stringify(report, null, 2));
else {
  const line = (name: string, s: { p50: number; p95: number; p99: number; max: number }) =>
    console.log(`${name.padEnd(34)} p50 ${fmt(s.p50, 2)}  p95 ${fmt(s.p95, 2)}  p99 ${fmt(s.p99, 2)}  max ${fmt(s.max, 2)}`);
  console.log(`rag-worker over NATS: ${items.length} eval queries (${ROUNDS} rounds), one replica in-process, nats-server ${server.url}`);
  line('floor  cmd → 1st event        ms', report.floor.intentMs);
  line('floor  cmd → 3rd event        ms', report.floor.readyMs);
  line('worker cmd → INTENT_DETECTED  ms', report.sequential.intentMs);
  line('worker cmd → first PARTIAL    ms', report.sequential.firstPartialMs);
  line('worker cmd → READY            ms', report.sequential.readyMs);
  // READY.totalMs runs from the engine's start to its final event, so it includes the worker's
  // awaited publishes of the earlier events (each waits for its JetStream ack, to keep order).
  line('worker time (READY.totalMs)   ms', report.sequential.engineMs);
  line(`worker cmd → READY, ${CONCURRENCY} in flight ms`, report.concurrent.readyMs);
  console.log(`throughput at ${CONCURRENCY} in flight: ${fmt(report.concurrent.queriesPerSecond, 0)} queries/s`);
  console.log(`over the bus: intent ${fmt(intentOk * 100, 1)} %, article top-1 ${fmt(top1 * 100, 1)} %`);
  if (heapGrowthMb !== undefined) console.log(`heap growth over ${items.length * 2} queries, after GC: ${fmt(heapGrowthMb, 1)} MB`);
}

await svc.stop();
await eventSub.close();
await bus.drain();
await server.stop();
