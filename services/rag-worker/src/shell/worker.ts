// The rag-worker's NATS shell: RAG_QUERY from a durable consumer shared by all replicas (any
// replica takes the next job), RAG_CANCEL fanned out to every replica (each aborts the turn if
// it holds it, and remembers it in case the query comes later). All answer events carry ids
// derived from the command id, so redeliveries are deduplicated by the events stream.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { JsMsg } from '@nats-io/jetstream';
import { PermanentError, PublishPipeline, consume, replicaConsumerName, durableConsumer, fanOutConsumer, errorCode, isRetryable, type ConsumerHandle, type HandlerContext } from '@switchboard/bus';
import { STREAMS, decodeCommandOf, isContractError, subjects, type Command, type TurnContext } from '@switchboard/contracts';
import type { ServiceComponent, ServiceContext } from '@switchboard/runtime';
import { sessionLogger } from '@switchboard/telemetry';
import type { RagEngine } from '../engine/engine';
import type { AnswerResult, HistoryTurn } from '../engine/types';
import { assertValidEvent, busEventsFor, errorEvent, type QueryRef } from './events';
import { linkSignals } from './signals';
import { TurnRegistry } from './turns';

export interface RagWorkerOptions {
  /** Queries handled at once by this replica (one at a time per session). */
  maxInFlight: number;
  /** Deliveries of a query before it is dead-lettered (and the turn gets an ERROR event). */
  maxDeliver: number;
  /** ack_wait of the query consumer (how soon a dead replica's queries move on). */
  ackWaitMs: number;
  /** Redelivery delays after a retryable failure. */
  backoffMs: readonly number[];
  /** Budget for a query whose command carries no deadline. */
  queryBudgetMs: number;
  cancelMemoryTtlMs: number;
  cancelMemoryMax: number;
  /** The per-replica cancel consumer vanishes this long after its replica stops pulling. */
  cancelConsumerInactiveMs: number;
}

export interface RagWorker extends ServiceComponent {
  readonly turns: TurnRegistry;
  readonly cancelConsumer: string;
}

/** Consumer names cannot contain dots (a replica id may: it comes from the host name). */
export function cancelConsumerName(replicaId: string): string {
  return replicaConsumerName('rag-worker-cancel', replicaId);
}

export const QUERY_CONSUMER = 'rag-worker';

const toHistory = (t: TurnContext): HistoryTurn => ({ userText: t.userText, agentText: t.agentText, intent: t.intent, sourceIds: t.sourceIds });

class DeadlineExceeded extends Error {
  readonly code = 'deadline_exceeded';
  readonly retryable = false;
}

function decodeOf(type: 'RAG_QUERY' | 'RAG_CANCEL'): (m: JsMsg) => Command {
  const decode = decodeCommandOf(type);
  return (m) => decode(m.data, m.subject);
}

export async function createRagWorker(ctx: ServiceContext<unknown>, engine: RagEngine, opts: RagWorkerOptions): Promise<RagWorker> {
  const { bus, log, metrics } = ctx;
  const turns = new TurnRegistry({ ttlMs: opts.cancelMemoryTtlMs, maxEntries: opts.cancelMemoryMax });
  const cancelConsumer = cancelConsumerName(ctx.replicaId);

  const latency = metrics.histogram('rag_query_latency_ms', 'query handling time to the first partial / the final answer published', ['stage']);
  const inFlight = metrics.gauge('rag_queries_in_flight', 'queries being answered by this replica');
  const answered = metrics.counter('rag_queries_answered_total', 'queries answered', ['intent']);
  const cancelled = metrics.counter('rag_queries_cancelled_total', 'queries that stopped publishing because the turn was cancelled', ['reason']);
  const failed = metrics.counter('rag_queries_failed_total', 'query failures (last=true: the turn got an ERROR event)', ['code', 'last']);
  const handedBack = metrics.counter('rag_queries_handed_back_total', 'queries returned to the stream at shutdown');
  const cancels = metrics.counter('rag_cancels_total', 'RAG_CANCEL commands seen by this replica', ['outcome']);
  const remembered = metrics.gauge('rag_cancel_memory_entries', 'recently cancelled turns remembered (bounded)');

  // One long-lived signal for "this replica is stopping", so each query adds one listener to it
  // (bounded by MAX_IN_FLIGHT) rather than to the runtime's and the consumer's signals.
  const shutdown = new AbortController();
  setMaxListeners(opts.maxInFlight + 16, shutdown.signal);
  const onServiceAbort = (): void => shutdown.abort(new Error('rag-worker stopping'));
  if (ctx.signal.aborted) onServiceAbort();
  else ctx.signal.addEventListener('abort', onServiceAbort, { once: true });

  let queries: ConsumerHandle | undefined;
  let cancelHandle: ConsumerHandle | undefined;
  let state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';

  async function answerQuery(cmd: Command, msg: JsMsg, h: HandlerContext): Promise<void> {
    const q = cmd.ragQuery!;
    const ref: QueryRef = { commandId: cmd.commandId, sessionId: cmd.sessionId, turnId: q.turnId };
    const qlog = sessionLogger(log, cmd.sessionId, { turnId: q.turnId, commandId: cmd.commandId, delivery: h.deliveryCount });
    const now = Date.now();
    if (q.deadline > 0 && q.deadline <= now) {
      cancelled.inc({ reason: 'deadline' });
      qlog.warn({ lateMs: now - q.deadline }, 'query skipped: its deadline has passed');
      return;
    }
    const turn = turns.begin(cmd.sessionId, q.turnId);
    if (!turn) {
      cancelled.inc({ reason: 'cancelled_before_start' });
      qlog.info('query skipped: the turn was already cancelled');
      return;
    }
    const deadline = new AbortController();
    const budgetMs = q.deadline > 0 ? q.deadline - now : opts.queryBudgetMs;
    const deadlineAt = now + budgetMs;
    const expire = (): void => deadline.abort(new DeadlineExceeded(`no answer within ${budgetMs} ms`));
    const timer = setTimeout(expire, budgetMs);
    // Cancel of this turn, its deadline, this replica stopping.
    const linked = linkSignals([turn.signal, deadline.signal, shutdown.signal]);
    const signal = linked.signal;
    inFlight.inc();
    const t0 = performance.now();
    // The turn's events go out back to back, acks awaited together (before the query is acked).
    const out = new PublishPipeline();
    let result: AnswerResult | undefined;
    try {
      const answers = engine.answer({
        text: q.text,
        history: q.history.map(toHistory),
        skipIntent: q.skipIntent,
        ...(q.language ? { language: q.language } : {}),
        signal,
      });
      for await (const ev of answers) {
        for (const event of busEventsFor(ref, ev)) {
          assertValidEvent(event);
          // Checked right before each publish: after a cancel or the deadline, nothing more leaves
          // this replica (the clock is read too: a busy event loop may fire the timer late).
          if (Date.now() >= deadlineAt) expire();
          signal.throwIfAborted();
          await out.send(() => bus.publishEvent(event));
        }
        if (ev.type === 'partial' && ev.index === 0) latency.observe({ stage: 'first_partial' }, performance.now() - t0);
        if (ev.type === 'final') result = ev.result;
      }
      if (!result) throw new Error('answer stream ended without a final result');
      await out.drain();
      const totalMs = performance.now() - t0;
      latency.observe({ stage: 'final' }, totalMs);
      answered.inc({ intent: result.intent });
      qlog.info(
        {
          intent: result.intent,
          confidence: result.confidence,
          sourceIds: result.sourceIds,
          clarify: result.clarify,
          escalate: result.escalate,
          provider: result.provider,
          partials: out.sent,
          engineMs: Math.round(result.timings.totalMs * 100) / 100,
          handledMs: Math.round(totalMs * 100) / 100,
          transcript: { caller: q.text, agent: result.text },
        },
        'query answered',
      );
    } catch (err) {
      if (turn.signal.aborted) {
        cancelled.inc({ reason: 'cancel' });
        qlog.info({ published: out.sent, reason: (turn.signal.reason as Error).message }, 'query cancelled; nothing more is published for the turn');
        return;
      }
      if (deadline.signal.aborted) {
        cancelled.inc({ reason: 'deadline' });
        qlog.warn({ published: out.sent, budgetMs }, 'query deadline passed; nothing more is published for the turn');
        return;
      }
      if (shutdown.signal.aborted) {
        // Hand it back at once for another replica; events already published are deduplicated
        // when that replica publishes them again. (After nak, the bus's ack is a no-op.) Not
        // when ack_wait may have passed (stalled): the nak would take it from its new holder.
        if (h.owned()) msg.nak();
        handedBack.inc();
        qlog.info({ published: out.sent }, 'query handed back: this replica is stopping');
        return;
      }
      await fail(err, ref, h, qlog);
    } finally {
      clearTimeout(timer);
      linked.dispose();
      turns.end(turn);
      inFlight.dec();
    }
  }

  /** Retryable failures are rethrown for a redelivery; the last one also tells the session. */
  async function fail(err: unknown, ref: QueryRef, h: HandlerContext, qlog: typeof log): Promise<never> {
    const invalid = isContractError(err);
    const code = invalid ? 'invalid_answer' : errorCode(err);
    const retryable = !invalid && isRetryable(err);
    const last = !retryable || h.deliveryCount >= opts.maxDeliver;
    const message = (err as Error)?.message ?? String(err);
    failed.inc({ code, last: String(last) });
    if (last) {
      try {
        // The session returns to LISTENING (after an apology) instead of waiting for its timeout.
        await bus.publishEvent(errorEvent(ref, { code, message, retryable }));
      } catch (pubErr) {
        qlog.error({ err: (pubErr as Error).message }, 'ERROR event not published; the session relies on its turn timeout');
      }
      qlog.error({ code, err: message, retryable, deliveries: h.deliveryCount }, 'query failed; ERROR event published, command goes to the DLQ');
    } else {
      qlog.warn({ code, err: message, deliveries: h.deliveryCount, maxDeliver: opts.maxDeliver }, 'query failed; it will be redelivered');
    }
    if (invalid) throw new PermanentError(code, message, { cause: err, dlqReason: 'permanent_error' });
    throw err;
  }

  async function onCancel(cmd: Command): Promise<void> {
    const c = cmd.ragCancel!;
    const outcome = turns.cancel(cmd.sessionId, c.turnId, c.reason);
    cancels.inc({ outcome });
    remembered.set(turns.stats.remembered);
    sessionLogger(log, cmd.sessionId, { turnId: c.turnId }).info(
      { reason: c.reason, outcome },
      outcome === 'aborted_in_flight' ? 'turn cancelled in flight' : 'turn cancel remembered',
    );
  }

  return {
    turns,
    cancelConsumer,
    async start() {
      // Cancels first: a cancel must never find this replica answering without listening for it.
      cancelHandle = await consume(bus, {
        stream: STREAMS.cmd.rag,
        consumer: cancelConsumer,
        config: fanOutConsumer(cancelConsumer, subjects.commandsOfType('rag', 'RAG_CANCEL'), opts.cancelConsumerInactiveMs),
        decode: decodeOf('RAG_CANCEL'),
        keyOf: (c) => c.sessionId,
        handle: onCancel,
        maxInFlight: 256,
        signal: ctx.signal,
      });
      queries = await consume(bus, {
        stream: STREAMS.cmd.rag,
        consumer: QUERY_CONSUMER,
        config: durableConsumer(QUERY_CONSUMER, subjects.commandsOfType('rag', 'RAG_QUERY'), { ack_wait: opts.ackWaitMs * 1_000_000 }),
        decode: decodeOf('RAG_QUERY'),
        keyOf: (c) => c.sessionId,
        handle: answerQuery, // consume() keeps it alive every third of the (short) ack_wait while held
        maxInFlight: opts.maxInFlight,
        maxDeliver: opts.maxDeliver,
        backoffMs: opts.backoffMs,
      });
      state = 'running';
    },
    async stop() {
      if (state === 'stopping' || state === 'stopped') return;
      state = 'stopping';
      // In-flight queries stop and are handed back, not acked (the runtime has usually aborted
      // ctx.signal already; a direct stop() gets here first).
      onServiceAbort();
      ctx.signal.removeEventListener('abort', onServiceAbort);
      await queries?.stop();
      await cancelHandle?.stop();
      // Nobody will pull from this replica's cancel consumer again; inactive_threshold is the
      // fallback when a replica dies without getting here.
      await bus.jsm.consumers.delete(STREAMS.cmd.rag, cancelConsumer).catch((err: unknown) => {
        log.warn({ err: (err as Error).message, consumer: cancelConsumer }, 'cancel consumer not deleted; it expires when inactive');
      });
      state = 'stopped';
    },
    ready: () => (state === 'running' ? true : `rag-worker ${state}`),
    routes: async (req, res, url) => {
      if (url.pathname === '/kb' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...engine.stats(), turns: turns.stats }));
        return true;
      }
      if (url.pathname === '/kb/reindex' && req.method === 'POST') {
        try {
          const stats = await engine.reindex();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(stats));
        } catch (err) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: (err as Error).message }));
        }
        return true;
      }
      return false;
    },
  };
}
