// The first queries after a rag-worker start, with and without the start-up warm-up
// (RAG_WARMUP_QUERIES). Every sample is a fresh process, so the answer path is really cold:
//  - engine:  a child creates the engine, warms it (or not), then times its first 5 distinct
//             caller queries through engine.answer() (call → final event);
//  - service: a child runs services/rag-worker/src/main.ts against a nats-server; this process
//             (already warm after a throwaway run) times RAG_QUERY published → RAG_ANSWER_READY
//             seen, for the same 5 queries, one after the other.
// Cold and warm runs alternate. The 5 queries are eval-set utterances that are not warm-up phrases.
// Run: node --import tsx bench/rag/cold-start.ts [--runs 8] [--warmup-queries 32] [--level engine|service|both] [--json]
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DeliverPolicy } from '@nats-io/jetstream';
import { Bus, provision } from '@switchboard/bus';
import { STREAMS, decodeEvent, makeCommand, newSessionId, newTurnId, subjects, type Event } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { spawnNode, startNatsServer } from '@switchboard/testkit';
import { WARMUP_PHRASES, answerToResult, createRagEngine, warmUp } from '../../services/rag-worker/src/index';
import { loadEvalSet } from '../../services/rag-worker/src/eval/evaluate';
import { fmt } from '../stats';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '8' },
    'warmup-queries': { type: 'string', default: '32' },
    level: { type: 'string', default: 'both' },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const WARM = Number(values['warmup-queries']);
const N_QUERIES = 5;
const SELF = fileURLToPath(import.meta.url);
const MAIN = fileURLToPath(new URL('../../services/rag-worker/src/main.ts', import.meta.url));

async function firstQueries(): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const it of await loadEvalSet()) {
    if (it.history?.length || !it.articleId || seen.has(it.articleId) || WARMUP_PHRASES.includes(it.text)) continue;
    seen.add(it.articleId);
    out.push(it.text);
    if (out.length === N_QUERIES) break;
  }
  return out;
}

interface Sample {
  warm: boolean;
  /** Engine: createRagEngine; service: spawn → "rag-worker ready". */
  startMs: number;
  warmUpMs: number;
  queryMs: number[];
}

// ---- child: one cold engine ----------------------------------------------------------------------
if (values.child === 'engine') {
  const queries = await firstQueries();
  const t0 = performance.now();
  const engine = await createRagEngine({ watch: false });
  const startMs = performance.now() - t0;
  const w = WARM > 0 ? await warmUp(engine, { queries: WARM, budgetMs: 1_500 }) : { ms: 0 };
  const queryMs: number[] = [];
  for (const text of queries) {
    const s = performance.now();
    await answerToResult(engine, { text });
    queryMs.push(performance.now() - s);
  }
  await engine.close();
  console.log(`RESULT ${JSON.stringify({ warm: WARM > 0, startMs, warmUpMs: w.ms, queryMs } satisfies Sample)}`);
  process.exit(0);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function engineSample(warm: boolean): Promise<Sample> {
  const child = spawnNode(SELF, { args: ['--child', 'engine', '--warmup-queries', String(warm ? WARM : 0)] });
  const line = await child.waitForLine(/^RESULT /, 60_000);
  await child.exited;
  return JSON.parse(line.slice('RESULT '.length)) as Sample;
}

// ---- service level: main.ts as a process, queries over NATS --------------------------------------
async function serviceLevel(queries: string[]): Promise<Sample[]> {
  const server = await startNatsServer();
  const bus = await Bus.connect({ servers: server.url, service: 'bench', log: createLogger({ service: 'bench', level: 'warn' }), partitions: 16 });
  await provision(bus.nc, bus.jsm);
  const waiters = new Map<string, (e: Event, at: number) => void>();
  const events = await bus.js.consumers.get(STREAMS.events, { filter_subjects: subjects.eventsAll, deliver_policy: DeliverPolicy.New });
  const sub = await events.consume({
    callback: (m) => {
      const at = performance.now();
      const e = decodeEvent(m.data);
      waiters.get(e.correlationId)?.(e, at);
    },
  });
  let n = 0;
  const ask = (text: string): Promise<number> => {
    const sessionId = newSessionId();
    const turnId = newTurnId();
    const cmd = makeCommand(
      'RAG_QUERY',
      { sessionId, source: 'bench', commandId: `${sessionId}:${++n}:0`, correlationId: turnId },
      { turnId, text, history: [] },
    );
    return new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      waiters.set(turnId, (e, at) => {
        if (e.eventType === 'RAG_ANSWER_READY') {
          waiters.delete(turnId);
          resolve(at - t0);
        } else if (e.eventType === 'ERROR') {
          waiters.delete(turnId);
          reject(new Error(`ERROR event: ${e.error?.code}`));
        }
      });
      bus.publishCommand('rag', cmd).catch(reject);
    });
  };
  const one = async (warm: boolean): Promise<Sample> => {
    const t0 = performance.now();
    const child = spawnNode(MAIN, {
      env: { NATS_URL: server.url, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', PARTITIONS: '16', KB_WATCH: '0', REPLICA_ID: 'rag-cold', LOG_LEVEL: 'info', RAG_WARMUP_QUERIES: String(warm ? WARM : 0) },
    });
    try {
      await child.waitForLine(/rag-worker ready/, 30_000);
      const startMs = performance.now() - t0;
      const warmedLine = child.lines.find((l) => l.includes('"rag engine warmed"'));
      const warmUpMs = warmedLine ? Number((JSON.parse(warmedLine) as { ms: number }).ms) : 0;
      const queryMs: number[] = [];
      for (const text of queries) queryMs.push(await ask(text));
      return { warm, startMs, warmUpMs, queryMs };
    } finally {
      await child.kill('SIGTERM');
    }
  };
  try {
    await one(true); // throwaway: warms this process's side (publish, decode) and the server
    const out: Sample[] = [];
    for (let i = 0; i < RUNS; i++) for (const warm of i % 2 ? [true, false] : [false, true]) out.push(await one(warm));
    return out;
  } finally {
    await sub.close();
    await bus.drain();
    await server.stop();
  }
}

function report(title: string, samples: Sample[], queries: string[], unit: string) {
  const of = (warm: boolean) => samples.filter((s) => s.warm === warm);
  const row = (label: string, pick: (s: Sample) => number) => {
    const c = of(false).map(pick);
    const w = of(true).map(pick);
    console.log(
      `  ${label.padEnd(34)} cold ${fmt(median(c), 2).padStart(7)} [${fmt(Math.min(...c), 2)}–${fmt(Math.max(...c), 2)}]   warm ${fmt(median(w), 2).padStart(7)} [${fmt(Math.min(...w), 2)}–${fmt(Math.max(...w), 2)}]`,
    );
  };
  console.log(`${title}: ${of(false).length} cold / ${of(true).length} warm processes (RAG_WARMUP_QUERIES=${WARM}), ms median [min–max]`);
  row(unit === 'engine' ? 'createRagEngine' : 'spawn → ready', (s) => s.startMs);
  row('warm-up (as logged / measured)', (s) => s.warmUpMs);
  queries.forEach((q, i) => row(`q${i + 1} ${JSON.stringify(q).slice(0, 30)}`, (s) => s.queryMs[i]!));
  row(`sum of first ${queries.length}`, (s) => s.queryMs.reduce((a, b) => a + b, 0));
}

const queries = await firstQueries();
const result: Record<string, Sample[]> = {};
if (values.level === 'engine' || values.level === 'both') {
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) for (const warm of i % 2 ? [true, false] : [false, true]) samples.push(await engineSample(warm));
  result['engine'] = samples;
}
if (values.level === 'service' || values.level === 'both') result['service'] = await serviceLevel(queries);

if (values.json) console.log(JSON.stringify({ queries, warmupQueries: WARM, ...result }, null, 2));
else {
  if (result['engine']) report('engine.answer(), call → final', result['engine'], queries, 'engine');
  if (result['service']) report('service over NATS, RAG_QUERY → RAG_ANSWER_READY', result['service'], queries, 'service');
}
