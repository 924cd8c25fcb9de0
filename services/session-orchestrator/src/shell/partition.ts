// One partition owned by this replica: its durable consumer, one actor per session (the bus
// runs a session's events one at a time, in stream order) and the sessions' timers.
// Applying an event: reduce → CAS-write state + outbox (fenced) → publish commands with
// deterministic ids → ack. A redelivered event (seq ≤ lastSeq) is acked and skipped after
// re-publishing any outbox left behind.
import { PermanentError, inPlaceRetryDelayMs, consume, durableConsumer, isNotFound, isRetryable, whileElecting, type Bus, type ConsumerHandle } from '@switchboard/bus';
import { DeliverPolicy, type ConsumerConfig } from '@nats-io/jetstream';
import { EventType, STREAMS, decodeEvent, encodeEvent, makeEvent, sessionIdOfSubject, subjects, type Event } from '@switchboard/contracts';
import { sessionLogger, type Logger, type Metrics } from '@switchboard/telemetry';
import { initialState, nextDeadline, reduce, toCommand, type FsmConfig, type ReduceResult } from '../fsm';
import type { DecisionSlots } from './decision-slots';
import { CasConflictError, SessionStore, StaleOwnerError, historyDue, type SessionRecord, type Stored } from './store';

export interface PartitionDeps {
  bus: Bus;
  store: SessionStore;
  partition: number;
  fence: number;
  replicaId: string;
  fsmConfig: FsmConfig;
  log: Logger;
  metrics: Metrics;
  maxInFlight: number;
  /** shared by every partition of the replica: bounds the work of one event-loop turn */
  slots: DecisionSlots;
  /** sessions live in this replica (for the unknown-session log line) */
  activeSessions(): string[];
  /** live view for UIs/CLI (transitions, transcripts); best effort */
  onApplied?(sessionId: string, event: Event, result: ReduceResult, record: SessionRecord): void;
}

export const consumerName = (p: number) => `orchestrator-p${p}`;

/**
 * How long a takeover keeps asking while the cluster elects. Measured (cluster.test.ts, kill -9 of
 * one of 3 nodes, nats-server 2.9.10): consumer leaders re-elected 4.5–6 s after the kill; a
 * takeover that gave up on the first 5 s timeout released the partition, and the next owner
 * deleted the durable and started that election over: partitions unserved for up to 33 s.
 */
const SETUP_BUDGET_MS = 30_000;

export class PartitionWorker {
  readonly #d: PartitionDeps;
  readonly #sessions = new Map<string, Stored>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #loggers = new Map<string, Logger>();
  /** sessions whose history key is being written (one write at a time per session) */
  readonly #historyWrites = new Set<string>();
  #consumer: ConsumerHandle | undefined;
  #stopped = false;

  /** metric handles, looked up once (not per event) */
  readonly #m;

  constructor(deps: PartitionDeps) {
    this.#d = deps;
    const { metrics } = deps;
    this.#m = {
      decisionLatency: metrics.histogram('decision_latency_ms', 'event produced → commands published', ['event_type']),
      applied: metrics.counter('events_applied_total', 'events applied by outcome', ['event_type', 'outcome']),
      unknown: metrics.counter('unknown_session_events_total', 'events for sessions that do not exist'),
      duplicates: metrics.counter('duplicate_events_total', 'redelivered or duplicate events skipped'),
    };
  }

  get partition(): number {
    return this.#d.partition;
  }

  sessionIds(): string[] {
    return [...this.#sessions.entries()].filter(([, s]) => s.record.fsm.state !== 'ENDED').map(([id]) => id);
  }

  cached(sessionId: string): Stored | undefined {
    return this.#sessions.get(sessionId);
  }

  async start(): Promise<void> {
    const { bus, partition } = this.#d;
    const name = consumerName(partition);
    // Serve events first (sessions load lazily in apply), then, in the background, finish
    // left-behind outboxes and re-arm timers of sessions that may not get an event soon.
    this.#consumer = await consume<Event>(bus, {
      stream: STREAMS.events,
      consumer: name,
      config: durableConsumer(name, subjects.eventsOfPartition(partition), { max_ack_pending: 4096, ...(await this.#rewindOnTakeover(name)) }),
      decode: (m) => decodeEvent(m.data),
      keyOf: (e) => e.sessionId,
      maxInFlight: this.#d.maxInFlight,
      maxDeliver: 10,
      // What we hold unhandled when we stop comes again from the successor's rewind, in order.
      onStop: 'keep',
      stopIfDeleted: true,
      setupBudgetMs: SETUP_BUDGET_MS,
      handle: (e, msg) => {
        // The subject routed it here (partition, actor); a body naming another session would be
        // applied to a session this partition does not own.
        if (sessionIdOfSubject(msg.subject) !== e.sessionId) {
          throw new PermanentError('WRONG_SESSION', `event body names ${e.sessionId.slice(0, 40)} but arrived on ${msg.subject.slice(0, 120)}`, { dlqReason: 'wrong_partition' });
        }
        return this.#applyInOrder(e, msg.seq);
      },
    });
    void this.#recover().catch((err: unknown) => this.#d.log.warn({ partition, err: (err as Error).message }, 'takeover recovery incomplete'));
  }

  /**
   * Retries a transient failure (NATS restarting, a KV timeout) in place. Throwing would nak the
   * event, and later events of the same session, already queued behind it, would be applied
   * first; the nak'ed one would then be skipped as "already applied" (lost), and commands of an
   * applied event whose publish failed would wait for the redelivery (ack_wait) to go out.
   */
  async #applyInOrder(e: Event, seq: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.#stopped) throw new StaleOwnerError(`partition ${this.#d.partition} no longer served here`);
      try {
        return await this.#d.slots.run(() => this.apply(e, seq));
      } catch (err) {
        if (err instanceof StaleOwnerError) {
          // A newer owner wrote this session: it owns the partition, whatever our lease still says.
          // Stop now (keeping what we hold for its rewind) instead of handing events back one by
          // one, which lets later events of a session overtake earlier ones.
          this.#d.log.warn({ partition: this.#d.partition, fence: this.#d.fence, err: err.message }, 'partition fenced by a newer owner: stopped serving it');
          void this.stop();
          throw err;
        }
        if (this.#stopped || !isRetryable(err)) throw err;
        const delay = inPlaceRetryDelayMs(attempt);
        this.#slog(e.sessionId).warn({ seq, attempt, err: (err as Error).message, retryInMs: delay }, 'apply failed, retrying in place (keeps the session in order)');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * Per session, "seq <= lastSeq: already applied" is only true if events reach apply in stream
   * order. A previous owner that died (kill -9) or froze holding delivered-but-unacked events would
   * keep them until ack_wait (30 s) while later events of the same sessions reach us first; and one
   * that is alive but does not know it lost the lease still has pull requests open on the durable,
   * so events are split between it and us, and what it hands back comes after later events. Either
   * way the earlier event was then skipped as "already applied": lost. So every new owner recreates
   * the durable from its ack floor: that cancels the old owner's pulls (it stops on "consumer
   * deleted"), everything after the floor comes again in stream order, and what was applied is
   * skipped per session by lastSeq.
   */
  async #rewindOnTakeover(name: string): Promise<Partial<ConsumerConfig>> {
    const { bus, partition, log } = this.#d;
    const retry = (err: unknown, attempt: number) => log.warn({ partition, attempt, err: (err as Error).message }, 'takeover: JetStream API not answering (cluster electing), retrying');
    const info = await whileElecting(() => bus.jsm.consumers.info(STREAMS.events, name), SETUP_BUDGET_MS, retry).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err; // cannot tell what the old owner left: do not serve (the lease is given back and retried)
    });
    if (!info) return {};
    const from = info.ack_floor.stream_seq + 1;
    // not found on a retry: the attempt that timed out did delete it
    await whileElecting(() => bus.jsm.consumers.delete(STREAMS.events, name), SETUP_BUDGET_MS, retry).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    log.info({ partition, ackPending: info.num_ack_pending, fromSeq: from }, 'partition taken over: consumer rewound to its ack floor');
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from };
  }

  async #recover(): Promise<void> {
    const { partition, store } = this.#d;
    for (const sid of await store.sessionsOfPartition(partition)) {
      if (this.#stopped) return;
      if (this.#sessions.has(sid)) continue; // already loaded by an event
      const stored = await store.load(partition, sid);
      if (!stored || stored.record.fsm.state === 'ENDED' || this.#sessions.has(sid)) continue;
      this.#sessions.set(sid, stored);
      if (stored.record.outbox.length > 0) await this.#publishOutbox(stored);
      this.#arm(sid, stored.record);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#consumer?.stop();
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#sessions.clear();
  }

  #slog(sid: string): Logger {
    let l = this.#loggers.get(sid);
    if (!l) {
      l = sessionLogger(this.#d.log, sid, { partition: this.#d.partition });
      this.#loggers.set(sid, l);
    }
    return l;
  }

  async apply(e: Event, seq: number): Promise<void> {
    const { store, partition, fence, replicaId } = this.#d;
    const sid = e.sessionId;
    const slog = this.#slog(sid);
    for (let attempt = 1; ; attempt++) {
      let stored = this.#sessions.get(sid) ?? (await store.load(partition, sid));
      if (!stored) {
        if (e.eventType !== EventType.CALL_STARTED) {
          const active = this.#d.activeSessions();
          slog.error({ eventType: e.eventType, seq, activeSessions: active.slice(0, 50), activeCount: active.length }, 'event for unknown session rejected');
          this.#m.unknown.inc();
          throw new PermanentError('UNKNOWN_SESSION', `no session ${sid}; ${active.length} active`, { dlqReason: 'unknown_session' });
        }
        stored = { record: { fsm: initialState(sid, e.timestamp), fence, owner: replicaId, partition, outbox: [] }, revision: 0 };
      }
      const rec = stored.record;
      if (rec.fence > fence) {
        this.#sessions.delete(sid);
        throw new StaleOwnerError(`partition ${partition}: session ${sid} written by fence ${rec.fence} > ours ${fence}`);
      }
      if (rec.outbox.length > 0) await this.#publishOutbox(stored);
      if (seq <= rec.fsm.lastSeq) {
        this.#m.duplicates.inc();
        slog.debug({ seq, lastSeq: rec.fsm.lastSeq, eventType: e.eventType }, 'already applied, skipped');
        return;
      }
      const now = Date.now();
      const result = reduce(rec.fsm, e, { now, seq, config: this.#d.fsmConfig });
      const outbox = result.effects.map((effect, index) => ({
        target: effect.target,
        command: toCommand(effect, { sessionId: sid, eventSeq: seq, index, timestamp: now }),
      }));
      const next: SessionRecord = { fsm: result.state, fence, owner: replicaId, partition, outbox };
      let revision: number;
      try {
        revision = await store.save(next, stored.revision, stored.hist);
      } catch (err) {
        if (err instanceof CasConflictError && attempt < 4) {
          this.#sessions.delete(sid); // someone wrote: reload and decide again
          slog.warn({ seq, attempt }, 'state changed underneath (CAS), reloading');
          continue;
        }
        throw err;
      }
      const fresh: Stored = { record: next, revision, ...(stored.hist ? { hist: stored.hist } : {}) };
      this.#sessions.set(sid, fresh);
      // The commands are on the wire before the transition lines are written (logging is sync work).
      const published = this.#publishOutbox(fresh);
      for (const l of result.logs) slog[l.level](l.fields, l.msg);
      await published;
      this.#m.decisionLatency.observe({ event_type: e.eventType }, Date.now() - e.timestamp);
      this.#m.applied.inc({ event_type: e.eventType, outcome: result.outcome });
      if (result.rejected) {
        // Recorded in the session's timeline; a copy is kept in the DLQ for inspection.
        await this.#d.bus
          .deadLetter({ subject: subjects.event(sid, e.eventType, this.#d.bus.partitions), data: encodeEvent(e), seq, stream: STREAMS.events }, 'invalid_transition', result.rejected.reason)
          .catch(() => undefined);
      }
      this.#arm(sid, next);
      if (historyDue(fresh)) this.#writeHistory(sid, next);
      this.#d.onApplied?.(sid, e, result, next);
      if (next.fsm.state === 'ENDED') this.#retire(sid);
      return;
    }
  }

  /**
   * Moves the session's history out of its hot record, off the decision path: once the history
   * key is written, later saves leave those entries out. A failed write only means the hot record
   * keeps carrying them until the next try.
   */
  #writeHistory(sid: string, record: SessionRecord): void {
    if (this.#historyWrites.has(sid)) return;
    this.#historyWrites.add(sid);
    void this.#d.store
      .saveHistory(record)
      .then((mark) => {
        const cur = this.#sessions.get(sid);
        if (cur && (!cur.hist || cur.hist.seq < mark.seq)) cur.hist = mark;
      })
      .catch((err: unknown) => this.#slog(sid).warn({ err: (err as Error).message }, 'history write failed; the session record keeps it'))
      .finally(() => this.#historyWrites.delete(sid));
  }

  async #publishOutbox(stored: Stored): Promise<void> {
    const { bus } = this.#d;
    const box = stored.record.outbox;
    if (box.length === 0) return;
    // Published in order on one connection: the server keeps that order within each stream.
    await Promise.all(box.map((o) => bus.publishCommand(o.target, o.command)));
    stored.record.outbox = []; // in memory only: the stored copy is replaced by the next write
  }

  #arm(sid: string, rec: SessionRecord): void {
    const old = this.#timers.get(sid);
    if (old) clearTimeout(old);
    this.#timers.delete(sid);
    const due = nextDeadline(rec.fsm);
    if (!due || this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(sid);
      const ev = makeEvent(
        'TIMER_FIRED',
        { sessionId: sid, source: 'session-orchestrator', eventId: `timer:${sid}:${due.timerId}`, correlationId: rec.fsm.turn?.turnId ?? '' },
        { kind: due.kind, timerId: due.timerId, deadline: due.deadline },
      );
      // The dedup id makes a timer fire once even if an old and a new owner both fire it.
      this.#d.bus.publishEvent(ev).catch((err: unknown) => this.#slog(sid).warn({ err: (err as Error).message, timerId: due.timerId }, 'timer publish failed'));
    }, Math.max(0, due.deadline - Date.now()));
    t.unref();
    this.#timers.set(sid, t);
  }

  #retire(sid: string): void {
    const t = this.#timers.get(sid);
    if (t) clearTimeout(t);
    this.#timers.delete(sid);
    // keep the record in KV (latency API, timeline); drop the actor after late events had a chance
    setTimeout(() => {
      if (this.#sessions.get(sid)?.record.fsm.state === 'ENDED') {
        this.#sessions.delete(sid);
        this.#loggers.delete(sid);
      }
    }, 60_000).unref();
  }
}
