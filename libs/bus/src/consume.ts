// Durable consumption: decode (validate) → handler → explicit ack; failures are nak'ed with
// backoff and, after maxDeliver attempts (or at once when permanent), dead-lettered and
// terminated. Work in flight is bounded; messages sharing a key run one at a time, in order.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumerConfig, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { DeliverPolicy, AckPolicy } from '@nats-io/jetstream';
import { extractTraceContext, withSpan } from '@switchboard/telemetry';
import type { Bus, DlqReason } from './bus';
import { describeMsg, dlqReasonFor } from './bus';
import { DeliveryLost, PermanentError, errorCode, inPlaceRetryDelayMs, isRetryable } from './errors';
import { KeyedExecutor } from './keyed-executor';
import { HeldDelivery } from './working';
import { ensureConsumer, whileElecting } from './topology';

export interface HandlerContext {
  deliveryCount: number;
  seq: number;
  signal: AbortSignal;
  /**
   * performance.now() when this replica took the message (before it waited behind its key). A
   * handler with side effects that cannot repeat (audio streamed) checks that this process did not
   * freeze past ack_wait since then: the server has given the message to another replica by now.
   */
  heldSince: number;
  /** the consumer's ack_wait: how long the server waits for an ack or a keep-alive */
  ackWaitMs: number;
  /**
   * Whether this delivery is surely still this replica's: false once ack_wait may have passed
   * without a keep-alive reaching the server (this process was stalled while holding it, or the
   * server sent it while the process was stalled and it waited unread in the socket). The server
   * then gives it to another replica. A handler whose side effects cannot repeat checks it before
   * each one and, when false, throws DeliveryLost: the message is left to the server (no ack,
   * no nak — those would act on the other replica's delivery).
   */
  owned: () => boolean;
}

export interface ConsumeOptions<T> {
  stream: string;
  /** Durable consumer name. */
  consumer: string;
  /** When given, the consumer is created or updated to this config first. */
  config?: Partial<ConsumerConfig>;
  /** Validate and decode; throwing dead-letters the message (it would fail again). */
  decode: (msg: JsMsg) => T;
  /** Messages with the same key are handled one at a time in stream order. Default: the subject. */
  keyOf?: (value: T, msg: JsMsg) => string;
  /** Resolve to ack. Throw a retryable error to retry with backoff, a PermanentError to dead-letter. */
  handle: (value: T, msg: JsMsg, ctx: HandlerContext) => Promise<void>;
  /** Messages pulled per request (×2). Work held at once is bounded by the consumer's max_ack_pending. */
  maxInFlight?: number;
  /** Deliveries before dead-lettering (first delivery counts). */
  maxDeliver?: number;
  backoffMs?: readonly number[];
  /**
   * What a stopping consumer does with messages it holds but has not handled: 'nak' (default)
   * hands them to another replica at once; 'keep' leaves them unacked, for an owner whose successor
   * rewinds the durable to its ack floor (a nak'ed message can come back after later messages of
   * its key, i.e. out of order).
   */
  onStop?: 'nak' | 'keep';
  /** Stop when the server says the durable was deleted (a new owner recreated it) rather than pull from its successor. */
  stopIfDeleted?: boolean;
  /** Retry creating/binding the durable for this long while the cluster elects (default 0: fail at once). */
  setupBudgetMs?: number;
  /** Lifetime of one pull request at the server (its idle heartbeat is half of it). Default 5 s. */
  pullExpiresMs?: number;
  signal?: AbortSignal;
}

export interface ConsumerHandle {
  /** Stop pulling, let in-flight work finish (unfinished messages are redelivered elsewhere). */
  stop(): Promise<void>;
  readonly done: Promise<void>;
  stats(): { inFlight: number; keys: number; handled: number; deadLettered: number; retried: number };
}

const DEFAULT_BACKOFF = [100, 500, 2_000, 5_000] as const;
/** What the socket held when a stall ended is read within this long (a loop turn or two, busy). */
const UNREAD_AFTER_STALL_MS = 1_000;

export async function consume<T>(bus: Bus, opts: ConsumeOptions<T>): Promise<ConsumerHandle> {
  const log = bus.log.child({ stream: opts.stream, consumer: opts.consumer });
  if (opts.config) {
    const cfg = { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_deliver: -1, ...opts.config, durable_name: opts.consumer };
    await whileElecting(() => ensureConsumer(bus.jsm, opts.stream, cfg), opts.setupBudgetMs ?? 0, (err, attempt) =>
      log.warn({ attempt, err: (err as Error).message }, 'durable not created yet (cluster electing): retrying'),
    );
  }
  const maxInFlight = opts.maxInFlight ?? 64;
  const maxDeliver = opts.maxDeliver ?? 5;
  const backoff = opts.backoffMs ?? DEFAULT_BACKOFF;
  const release = (msg: JsMsg): void => {
    if (opts.onStop !== 'keep') msg.nak();
  };
  const executor = new KeyedExecutor();
  const abort = new AbortController();
  opts.signal?.addEventListener('abort', () => abort.abort(), { once: true });
  const counts = { handled: 0, deadLettered: 0, retried: 0 };
  const depth = bus.metrics?.gauge('consumer_in_flight', 'messages being handled', ['consumer']);
  const handledTotal = bus.metrics?.counter('consumer_messages_total', 'messages handled by outcome', ['consumer', 'outcome']);

  const consumer = await whileElecting(() => bus.js.consumers.get(opts.stream, opts.consumer), opts.setupBudgetMs ?? 0);
  // A held message says "still working" every third of ack_wait, from the moment this replica
  // takes it — also while it waits behind its key, or a short ack_wait (rag, tts: a dead replica's
  // work moves on within seconds) redelivered queued work to another replica while this one lived.
  const ackWaitMs = Math.max(300, Number((await consumer.info(true)).config.ack_wait ?? 30_000_000_000) / 1e6);
  // Callback delivery: the message is dispatched in the same tick it arrives (an async iterator
  // adds a hop per message). In-flight work is bounded by the consumer's max_ack_pending on the
  // server (we ack only when done) and by the executor's slots.
  /** Acks written whose confirmation has not come back yet. */
  const acking = new Set<Promise<void>>();
  let resolveDone!: () => void;
  const loopDone = new Promise<void>((r) => (resolveDone = r));
  const messages: ConsumerMessages = await consumer.consume({
    max_messages: Math.max(16, maxInFlight * 2),
    expires: opts.pullExpiresMs ?? 5_000,
    callback: (msg) => dispatch(msg),
  });
  void messages.closed().then(() => resolveDone(), () => resolveDone());
  // What the pull loop reports: a consumer being deleted under us (taken over), and the pull
  // requests the server ended without a status, written off by the patched client (see
  // patches/@nats-io__jetstream@3.4.0.patch) — each was a multi-second stall before.
  void (async () => {
    for await (const s of messages.status()) {
      if (s.type === 'debug' && s.description === 'pull ended without a status') {
        log.warn('pull request ended at the server without a status: written off (a successor was already waiting)');
      } else if (s.type === 'heartbeats_missed') {
        log.warn({ count: s.count }, 'pull heartbeats missed: re-pulling');
      } else if (s.type === 'consumer_deleted' && opts.stopIfDeleted) {
        log.warn('durable deleted under us (taken over): stopped consuming it');
        abort.abort();
        await messages.close().catch(() => undefined);
        return;
      }
    }
  })().catch(() => undefined);

  async function deadLetter(msg: JsMsg, reason: DlqReason | string, detail: string): Promise<void> {
    // Retried here rather than nak'ed: while this message holds its key, later messages of the key
    // wait; a nak let them overtake it (an unknown-session event, redelivered after that session's
    // CALL_STARTED, was then skipped as already applied, never dead-lettered).
    for (let attempt = 1; ; attempt++) {
      try {
        await bus.deadLetter(describeMsg(msg), reason as DlqReason, detail);
        msg.term(`${reason}: ${detail}`.slice(0, 200));
        counts.deadLettered++;
        handledTotal?.inc({ consumer: opts.consumer, outcome: 'dead_lettered' });
        return;
      } catch {
        if (abort.signal.aborted) return release(msg);
        await sleep(inPlaceRetryDelayMs(attempt), undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  }

  /**
   * Runs `work` for a held message with keep-alives from now until it is done. A message read
   * right after this process was stalled may have been sent by the server during the stall: its
   * ack_wait is counted from the stall's start.
   */
  function hold(key: string, msg: JsMsg, work: (held: HeldDelivery, heldSince: number) => Promise<void>): void {
    const heldSince = performance.now();
    const held = new HeldDelivery(msg, { ackWaitMs, sentNoEarlierThan: bus.loopGaps.unreadSince(UNREAD_AFTER_STALL_MS) });
    if (!held.owned()) log.warn({ seq: msg.seq, delivery: msg.info.deliveryCount, lostForMs: Math.round(held.lostForMs) }, 'message read after a stall longer than ack_wait: it may be with another replica already');
    void executor.submit(key, () => work(held, heldSince).finally(() => held.stop()));
  }

  /** Hands a message back (nak) only while it is surely ours: a stale nak would take it from its current holder. */
  function nakIfOwned(held: HeldDelivery, msg: JsMsg, delayMs?: number): boolean {
    if (!held.owned()) return false;
    msg.nak(delayMs);
    return true;
  }

  async function run(msg: JsMsg, value: T, held: HeldDelivery, heldSince: number): Promise<void> {
    // Queued behind its key when the consumer stopped: hand it back without running the handler,
    // so stop() takes as long as the work already started, not the whole queue.
    if (abort.signal.aborted) return void (opts.onStop !== 'keep' && nakIfOwned(held, msg));
    const deliveryCount = msg.info.deliveryCount;
    const owned = (): boolean => held.owned();
    try {
      // The producer's trace context travels in the headers: the handler runs in a child span,
      // so whatever it publishes carries the same trace on (gateway → … → tts and back).
      const parent = extractTraceContext((k) => msg.headers?.get(k) || undefined);
      await withSpan(`${opts.consumer} process`, () => opts.handle(value, msg, { deliveryCount, seq: msg.seq, signal: abort.signal, heldSince, ackWaitMs, owned }), {
        parent,
        attributes: { 'messaging.system': 'nats', 'messaging.destination': msg.subject, 'messaging.message.sequence': msg.seq },
      });
      // The ack is written now; its confirmation is not waited for, so the key is free for its next
      // message at once (an orchestrator session's RAG_ANSWER_READY waited one server round trip
      // per INTENT/PARTIAL queued before it). A lost ack means a redelivery, which every handler
      // dedups; stop() waits for the confirmations still out.
      const confirmed = msg.ackAck({ timeout: 5_000 }).then(
        () => undefined,
        (err: unknown) => log.warn({ seq: msg.seq, err: (err as Error).message }, 'ack not confirmed'),
      );
      acking.add(confirmed);
      void confirmed.finally(() => acking.delete(confirmed));
      counts.handled++;
      handledTotal?.inc({ consumer: opts.consumer, outcome: 'acked' });
    } catch (err) {
      const code = errorCode(err);
      if (abort.signal.aborted && opts.onStop === 'keep' && isRetryable(err)) {
        // stopped mid-handler (e.g. the partition was taken over): the successor redelivers it
      } else if (err instanceof DeliveryLost) {
        log.warn({ seq: msg.seq, deliveryCount, err: err.message }, 'delivery lost (ack_wait passed while this replica was stalled): left to the server, neither acked nor nak\'ed');
        handledTotal?.inc({ consumer: opts.consumer, outcome: 'lost' });
      } else if (err instanceof PermanentError) {
        await deadLetter(msg, err.dlqReason, `${code}: ${err.message}`);
      } else if (!isRetryable(err)) {
        await deadLetter(msg, 'permanent_error', `${code}: ${(err as Error).message}`);
      } else if (deliveryCount >= maxDeliver) {
        await deadLetter(msg, 'max_deliveries', `${code} after ${deliveryCount} deliveries: ${(err as Error).message}`);
      } else {
        const delay = backoff[Math.min(deliveryCount - 1, backoff.length - 1)] ?? 1_000;
        log.warn({ seq: msg.seq, deliveryCount, code, err: (err as Error).message, retryInMs: delay }, 'handler failed, will retry');
        // not ours any more: the server redelivers it anyway (a nak would take it from its new holder)
        nakIfOwned(held, msg, delay);
        counts.retried++;
        handledTotal?.inc({ consumer: opts.consumer, outcome: 'retried' });
      }
    }
  }

  function dispatch(msg: JsMsg): void {
    if (abort.signal.aborted) return release(msg); // hand it back (or leave it) for the next owner
    depth?.set({ consumer: opts.consumer }, executor.stats.inFlight);
    if (msg.info.deliveryCount > maxDeliver) {
      hold(`dlq:${msg.seq}`, msg, () => deadLetter(msg, 'max_deliveries', `delivered ${msg.info.deliveryCount} times (handler never finished)`));
      return;
    }
    let value: T;
    try {
      value = opts.decode(msg);
    } catch (err) {
      hold(`dlq:${msg.seq}`, msg, () => deadLetter(msg, dlqReasonFor(err), (err as Error).message));
      return;
    }
    const key = opts.keyOf ? opts.keyOf(value, msg) : msg.subject;
    hold(key, msg, (held, heldSince) => run(msg, value, held, heldSince));
  }

  const done = loopDone.then(() => executor.idle()).catch((err: unknown) => {
    log.error({ err: (err as Error).message }, 'consumer loop failed');
  });

  let stopping: Promise<void> | undefined;
  return {
    done,
    stats: () => ({ ...executor.stats, ...counts }),
    stop(): Promise<void> {
      stopping ??= (async () => {
        abort.abort();
        await messages.close().catch(() => undefined);
        await done;
        await executor.idle();
        await Promise.all(acking);
      })();
      return stopping;
    },
  };
}

/** A per-replica (fan-out) consumer name: consumer names cannot contain dots, replica ids may. */
export function replicaConsumerName(base: string, replicaId: string): string {
  return `${base}-${replicaId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export interface OrderedSubscription {
  stop(): Promise<void>;
}

/**
 * Low-latency in-order reading of a (memory) stream, e.g. audio frames: an ordered
 * ephemeral consumer that recreates itself on gaps. No acks.
 */
export async function subscribeOrdered(
  bus: Bus,
  opts: { stream: string; filter: string; startTimeMs?: number; onMessage: (msg: JsMsg) => void },
): Promise<OrderedSubscription> {
  const consumer = await bus.js.consumers.get(opts.stream, {
    filter_subjects: opts.filter,
    ...(opts.startTimeMs !== undefined
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(opts.startTimeMs).toISOString() }
      : { deliver_policy: DeliverPolicy.New }),
  });
  const messages = await consumer.consume({
    max_messages: 512,
    callback: (m) => {
      try {
        opts.onMessage(m);
      } catch (err) {
        bus.log.error({ err: (err as Error).message, subject: m.subject }, 'ordered subscription handler threw');
      }
    },
  });
  return {
    async stop() {
      await messages.close().catch(() => undefined);
    },
  };
}
