// Soak: the rag-worker's heap after 2 000 queries and after N more (8 in flight, over NATS),
// in a process that keeps nothing per query itself. A flat heap = nothing retained per query.
// Run: node --expose-gc --import tsx bench/rag/soak.ts [--n 10000]
import { Writable } from 'node:stream';
import { DeliverPolicy } from '@nats-io/jetstream';
import { Bus, provision } from '@switchboard/bus';
import { STREAMS, decodeEvent, makeCommand, newSessionId, newTurnId, subjects } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { startNatsServer } from '@switchboard/testkit';
import { startService } from '../../libs/runtime/src/index';
import { ragWorkerService } from '../../services/rag-worker/src/index';
const server = await startNatsServer();
const bus = await Bus.connect({ servers: server.url, service: 'bench', log: createLogger({ service: 'b', level: 'warn' }), partitions: 64 });
await provision(bus.nc, bus.jsm);
const waiters = new Map<string, () => void>();
const c = await bus.js.consumers.get(STREAMS.events, { filter_subjects: subjects.eventsAll, deliver_policy: DeliverPolicy.New });
await c.consume({ callback: (m) => { const e = decodeEvent(m.data); if (e.eventType === 'RAG_ANSWER_READY') { waiters.get(e.correlationId)?.(); waiters.delete(e.correlationId); } } });
const svc = await startService(ragWorkerService, { NATS_URL: server.url, HTTP_PORT: '0', PARTITIONS: '64', KB_WATCH: '0', LOG_LEVEL: 'warn', REPLICA_ID: 'soak' }, { logDestination: new Writable({ write: (_c, _e, cb) => cb() }) });
async function run(n: number) {
  await Promise.all(Array.from({ length: 8 }, async (_, w) => {
    for (let i = w; i < n; i += 8) {
      const sid = newSessionId(); const turnId = newTurnId();
      const p = new Promise<void>((r) => waiters.set(turnId, r));
      await bus.publishCommand('rag', makeCommand('RAG_QUERY', { sessionId: sid, source: 'b', commandId: `${sid}:${i}:0`, correlationId: turnId }, { turnId, text: 'where is my order' }));
      await p;
    }
  }));
}
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const nArg = process.argv.indexOf('--n');
const N = nArg >= 0 ? Number(process.argv[nArg + 1]) : 10_000;
await run(2000); gc(); const h1 = process.memoryUsage().heapUsed;
await run(N); gc(); const h2 = process.memoryUsage().heapUsed;
console.log('heap after 2000:', (h1 / 1e6).toFixed(2), `MB; after ${N} more:`, (h2 / 1e6).toFixed(2), 'MB');
await svc.stop(); await bus.drain(); await server.stop();
