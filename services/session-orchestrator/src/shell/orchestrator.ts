// The orchestrator component: partition leases decide which partitions this replica serves;
// each owned partition runs a PartitionWorker. Read APIs (HTTP, gRPC) read the sessions
// bucket, so any replica answers for any session.
import { PartitionLeases } from '@switchboard/bus';
import { BUCKETS, STREAMS, decodeEvent, isSessionId, makeEvent, makeCommand, newId, partitionOf, subjects, type Event } from '@switchboard/contracts';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { ServiceComponent, ServiceContext } from '@switchboard/runtime';
import type http from 'node:http';
import type { FsmConfig, ReduceResult } from '../fsm';
import { DecisionSlots } from './decision-slots';
import { PartitionWorker } from './partition';
import { SessionStore, type SessionRecord } from './store';
import { latencyView, sessionView } from './views';

export interface OrchestratorOptions {
  fsmConfig: FsmConfig;
  leaseTtlMs: number;
  maxInFlight: number;
  /** decisions worked on at once by this replica (DecisionSlots) */
  maxDeciding: number;
}

export interface Orchestrator extends ServiceComponent {
  store: SessionStore;
  owned(): number[];
  load(sessionId: string): Promise<SessionRecord | undefined>;
  listSessions(limit?: number): Promise<SessionRecord[]>;
  endSession(sessionId: string, reason: string): Promise<boolean>;
  eventLog(sessionId: string, limit?: number): Promise<Array<{ seq: number; time: string; event: Event }>>;
  /** subscribe to live updates of one session (core NATS); returns unsubscribe */
  watch(sessionId: string, onUpdate: (u: SessionUpdate) => void): () => void;
}

export interface SessionUpdate {
  sessionId: string;
  state: string;
  eventType: string;
  seq: number;
  outcome: string;
  transitions: ReduceResult['transitions'];
  turnId: string;
  /** what the call page shows: transcripts and answers of this call */
  text?: { role: 'caller' | 'agent'; final: boolean; text: string };
  latency?: Record<string, number | undefined>;
}

export async function createOrchestrator(ctx: ServiceContext<unknown>, opts: OrchestratorOptions): Promise<Orchestrator> {
  const { bus, log, metrics, replicaId } = ctx;
  const store = new SessionStore(await bus.kv(BUCKETS.sessions));
  const workers = new Map<number, PartitionWorker>();
  const sessionsGauge = metrics.gauge('sessions_active', 'sessions with a live actor in this replica');
  const partitionsGauge = metrics.gauge('partitions_owned', 'partitions this replica serves');
  const enc = new TextEncoder();
  const slots = new DecisionSlots(opts.maxDeciding, metrics.gauge('decisions_waiting', 'events decoded and waiting for a decision slot'));
  let started = false;

  const activeSessions = () => [...workers.values()].flatMap((w) => w.sessionIds());

  function onApplied(sessionId: string, e: Event, result: ReduceResult, rec: SessionRecord): void {
    const update: SessionUpdate = {
      sessionId,
      state: rec.fsm.state,
      eventType: e.eventType,
      seq: rec.fsm.lastSeq,
      outcome: result.outcome,
      transitions: result.transitions,
      turnId: rec.fsm.turn?.turnId ?? '',
    };
    if (e.sttPartial?.text) update.text = { role: 'caller', final: false, text: e.sttPartial.text };
    if (e.sttFinal?.text) update.text = { role: 'caller', final: true, text: e.sttFinal.text };
    if (e.ragAnswerReady?.text && result.outcome !== 'ignored') update.text = { role: 'agent', final: true, text: e.ragAnswerReady.text };
    const done = rec.fsm.turnsCompleted[rec.fsm.turnsCompleted.length - 1];
    if (done && result.transitions.length > 0) update.latency = { ...done.marks };
    try {
      bus.nc.publish(subjects.sessionUpdates(sessionId), enc.encode(JSON.stringify(update)));
    } catch {
      // live view is best effort
    }
  }

  // Sampled, not per event: counting live sessions is O(sessions).
  const gaugeTimer = setInterval(() => sessionsGauge.set(activeSessions().length), 2_000);
  gaugeTimer.unref();

  // Leases on their own connection: renewals must not wait behind the event flood (Bus.sibling).
  const leaseBus = await bus.sibling('leases');
  const leases = new PartitionLeases({
    kv: await leaseBus.kv(BUCKETS.leases),
    group: 'orchestrator',
    partitions: bus.partitions,
    replicaId,
    ttlMs: opts.leaseTtlMs,
    log,
    onAcquire: async (partition, fence) => {
      const w = new PartitionWorker({
        bus,
        store,
        partition,
        fence,
        replicaId,
        fsmConfig: opts.fsmConfig,
        log,
        metrics,
        maxInFlight: opts.maxInFlight,
        slots,
        activeSessions,
        onApplied,
      });
      await w.start();
      workers.set(partition, w);
      partitionsGauge.set(workers.size);
    },
    onRelease: async (partition) => {
      const w = workers.get(partition);
      workers.delete(partition);
      partitionsGauge.set(workers.size);
      await w?.stop();
    },
  });

  async function load(sessionId: string): Promise<SessionRecord | undefined> {
    if (!isSessionId(sessionId)) return undefined;
    const p = partitionOf(sessionId, bus.partitions);
    return workers.get(p)?.cached(sessionId)?.record ?? (await store.load(p, sessionId))?.record;
  }

  async function listSessions(limit = 500): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (const { partition, sessionId } of await store.allKeys()) {
      if (out.length >= limit) break;
      const r = await store.load(partition, sessionId);
      if (r) out.push(r.record);
    }
    return out;
  }

  async function endSession(sessionId: string, reason: string): Promise<boolean> {
    const rec = await load(sessionId);
    if (!rec || rec.fsm.state === 'ENDED') return false;
    const id = newId('op');
    // Through the event log, so the owner applies it exactly once like any other event.
    await bus.publishEvent(makeEvent('CALL_ENDED', { sessionId, source: 'session-orchestrator', eventId: id }, { reason }));
    await bus.publishCommand('gateway', makeCommand('CALL_END', { sessionId, source: 'session-orchestrator', commandId: `${sessionId}:${id}:0` }, { reason }));
    return true;
  }

  async function eventLog(sessionId: string, limit = 1000): Promise<Array<{ seq: number; time: string; event: Event }>> {
    const p = partitionOf(sessionId, bus.partitions);
    const consumer = await bus.js.consumers.get(STREAMS.events, { filter_subjects: `voice.evt.${p}.${sessionId}.>`, deliver_policy: DeliverPolicy.All });
    const out: Array<{ seq: number; time: string; event: Event }> = [];
    const info = await consumer.info(true).catch(() => undefined);
    let pending = info?.num_pending ?? 0;
    while (pending > 0 && out.length < limit) {
      const batch = await consumer.fetch({ max_messages: Math.min(256, pending), expires: 2_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        pending--;
        try {
          out.push({ seq: m.seq, time: m.time.toISOString(), event: decodeEvent(m.data) });
        } catch {
          // invalid events are in the DLQ with their reason; the timeline shows valid ones
        }
      }
      if (got === 0) break;
    }
    await consumer.delete().catch(() => undefined);
    return out;
  }

  function watch(sessionId: string, onUpdate: (u: SessionUpdate) => void): () => void {
    const sub = bus.nc.subscribe(subjects.sessionUpdates(sessionId), {
      callback: (_err, m) => {
        try {
          onUpdate(JSON.parse(new TextDecoder().decode(m.data)) as SessionUpdate);
        } catch {
          // ignore malformed update
        }
      },
    });
    return () => sub.unsubscribe();
  }

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };

  async function routes(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && parts[0] === 'latency' && parts.length === 2) {
      const rec = await load(parts[1]!);
      if (!rec) json(res, 404, { error: 'unknown session', sessionId: parts[1] });
      else json(res, 200, latencyView(rec));
      return true;
    }
    if (req.method === 'GET' && parts[0] === 'sessions' && parts.length === 1) {
      const all = await listSessions(Number(url.searchParams.get('limit') ?? 500));
      json(res, 200, { sessions: all.map((r) => ({ sessionId: r.fsm.sessionId, state: r.fsm.state, turnId: r.fsm.turn?.turnId ?? '', updatedAt: r.fsm.updatedAt, partition: r.partition, owner: r.owner })) });
      return true;
    }
    if (req.method === 'GET' && parts[0] === 'sessions' && parts.length >= 2) {
      const rec = await load(parts[1]!);
      if (!rec) {
        json(res, 404, { error: 'unknown session', sessionId: parts[1] });
        return true;
      }
      if (parts[2] === 'events') json(res, 200, { sessionId: parts[1], events: await eventLog(parts[1]!) });
      else json(res, 200, sessionView(rec));
      return true;
    }
    if (req.method === 'POST' && parts[0] === 'sessions' && parts[2] === 'end') {
      json(res, 200, { accepted: await endSession(parts[1]!, url.searchParams.get('reason') ?? 'operator') });
      return true;
    }
    return false;
  }

  return {
    store,
    owned: () => [...workers.keys()].sort((a, b) => a - b),
    load,
    listSessions,
    endSession,
    eventLog,
    watch,
    routes,
    async start() {
      await leases.start();
      started = true;
    },
    async stop() {
      clearInterval(gaugeTimer);
      await leases.stop(); // hands every partition back: others take over at once
      await leaseBus.drain();
    },
    ready: () => (started ? true : 'leases not started'),
  };
}
