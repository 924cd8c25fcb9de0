// The one way services talk to NATS: connect with retries, publish with dedup ids and
// trace headers, consume with validation → handler → explicit ack / nak / DLQ.
import { connect } from '@nats-io/transport-node';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg, type PubAck } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import {
  STREAMS,
  encodeAudioFrame,
  encodeCommand,
  encodeEvent,
  isContractError,
  subjects,
  type AudioFrame,
  type Command,
  type CommandTarget,
  type Event,
} from '@switchboard/contracts';
import { injectTraceHeaders, type Logger, type Metrics } from '@switchboard/telemetry';
import { BusError } from './errors';
import { LoopGapWatch } from './loop-gaps';

export const HEADERS = {
  msgId: 'Nats-Msg-Id',
  service: 'Sb-Service',
  dlqReason: 'Sb-Dlq-Reason',
  dlqDetail: 'Sb-Dlq-Detail',
  dlqSubject: 'Sb-Dlq-Subject',
  dlqStream: 'Sb-Dlq-Stream',
  dlqSeq: 'Sb-Dlq-Seq',
  dlqDeliveries: 'Sb-Dlq-Deliveries',
  dlqConsumer: 'Sb-Dlq-Consumer',
} as const;

/** Reasons a message lands in VOICE_DLQ (also the last token of its DLQ subject). */
export type DlqReason = 'invalid' | 'too_large' | 'unknown_session' | 'max_deliveries' | 'permanent_error' | 'invalid_transition' | 'wrong_partition';

export interface BusOptions {
  servers: string | string[];
  /** Service name (also the connection name and the DLQ subject token). */
  service: string;
  replicaId?: string;
  log: Logger;
  metrics?: Metrics;
  user?: string;
  pass?: string;
  token?: string;
  /** Time to keep trying the first connection before failing with a clear error. */
  connectBudgetMs?: number;
  partitions: number;
  signal?: AbortSignal;
  /** What this connection is for, when a service opens more than one (see `Bus.sibling`). */
  purpose?: string;
}

export interface PublishOptions {
  msgId?: string;
  headers?: Record<string, string>;
  /** Attach W3C trace context of the active span (default true). */
  trace?: boolean;
}

export interface DeadLetterInput {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs | undefined;
  stream?: string;
  seq?: number;
  deliveries?: number;
  consumer?: string;
}

export class Bus {
  readonly kvm: Kvm;
  #closed = false;
  #opts!: BusOptions;
  #loopGaps: LoopGapWatch | undefined;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly service: string,
    readonly replicaId: string,
    readonly partitions: number,
    readonly log: Logger,
    readonly metrics: Metrics | undefined,
  ) {
    this.kvm = new Kvm(nc);
  }

  static async connect(opts: BusOptions): Promise<Bus> {
    const servers = Array.isArray(opts.servers) ? opts.servers : opts.servers.split(',').map((s) => s.trim()).filter(Boolean);
    const budget = opts.connectBudgetMs ?? 15_000;
    const started = Date.now();
    let attempt = 0;
    let lastErr: unknown;
    const replicaId = opts.replicaId ?? `${opts.service}-${process.pid}`;
    while (Date.now() - started < budget) {
      if (opts.signal?.aborted) throw new BusError('ABORTED', 'connect aborted', false);
      attempt++;
      try {
        const nc = await connect({
          servers,
          name: opts.purpose ? `${opts.service}/${replicaId}/${opts.purpose}` : `${opts.service}/${replicaId}`,
          user: opts.user,
          pass: opts.pass,
          token: opts.token,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          timeout: Math.min(5_000, budget),
          inboxPrefix: undefined,
          // Otherwise every request (each JetStream publish, KV write, ackAck) builds two Error
          // objects up front just for their stacks: ~20 % of the orchestrator's CPU (profiled).
          noAsyncTraces: true,
        });
        const jsm = await jetstreamManager(nc, { timeout: 5_000 });
        const js = jetstream(nc, { timeout: 5_000 });
        opts.log.info({ servers, attempt, server: nc.info?.server_name, version: nc.info?.version }, 'connected to NATS');
        const bus = new Bus(nc, js, jsm, opts.service, replicaId, opts.partitions, opts.log, opts.metrics);
        bus.#opts = { ...opts, replicaId };
        bus.#watchStatus();
        return bus;
      } catch (err) {
        lastErr = err;
        const wait = Math.min(2_000, 100 * 2 ** Math.min(attempt, 5));
        opts.log.warn({ servers, attempt, err: (err as Error).message, retryInMs: wait }, 'NATS connect failed, retrying');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    throw new BusError(
      'CONNECT_FAILED',
      `cannot connect to NATS at ${servers.join(',')} within ${budget} ms after ${attempt} attempts: ${(lastErr as Error)?.message ?? 'unknown error'}` +
        ` (is nats-server running with JetStream enabled, and are the credentials right?)`,
      true,
    );
  }

  /**
   * Another connection with the same servers, credentials and identity. For control traffic
   * that must not queue behind data: the server writes one connection's messages in order, so
   * on a busy data connection a lease renewal's reply waits behind every delivery already
   * queued (over a second in the orchestrator's closed-loop bench, past the lease TTL).
   */
  sibling(purpose: string): Promise<Bus> {
    return Bus.connect({ ...this.#opts, purpose });
  }

  #watchStatus(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error' || s.type === 'staleConnection') {
          // which server it left / landed on: a failover is read from these lines
          const server = 'server' in s ? s.server : undefined;
          this.log.warn({ status: s.type, server, serverName: this.nc.info?.server_name, purpose: this.#opts.purpose }, 'NATS connection status');
        }
      }
    })().catch(() => undefined);
  }

  /** This process's event-loop stalls, watched from first use until drain (one watch for every consumer). */
  get loopGaps(): LoopGapWatch {
    return (this.#loopGaps ??= new LoopGapWatch());
  }

  get closed(): boolean {
    return this.#closed || this.nc.isClosed();
  }

  headers(opts: PublishOptions = {}): MsgHdrs {
    const h = natsHeaders();
    h.set(HEADERS.service, this.service);
    if (opts.msgId) h.set(HEADERS.msgId, opts.msgId);
    if (opts.trace !== false) injectTraceHeaders((k, v) => h.set(k, v));
    for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
    return h;
  }

  /** JetStream publish; resolves with the stream ack (duplicate=true when deduped). */
  async publish(subject: string, data: Uint8Array, opts: PublishOptions = {}): Promise<PubAck> {
    return this.js.publish(subject, data, { headers: this.headers(opts), msgID: opts.msgId });
  }

  /** Publish an event to its partition subject; the event id is the dedup id. */
  publishEvent(event: Event, opts: PublishOptions = {}): Promise<PubAck> {
    return this.publish(subjects.event(event.sessionId, event.eventType, this.partitions), encodeEvent(event), { msgId: event.eventId, ...opts });
  }

  /** Publish a command; the command id is the dedup id. */
  publishCommand(target: CommandTarget, command: Command, opts: PublishOptions = {}): Promise<PubAck> {
    return this.publish(subjects.command(target, command.sessionId, command.commandType), encodeCommand(command), { msgId: command.commandId, ...opts });
  }

  /** Audio is hot: core publish into the memory stream (no per-frame ack round trip). */
  publishAudioIn(frame: AudioFrame): void {
    this.nc.publish(subjects.audioIn(frame.sessionId, this.partitions), encodeAudioFrame(frame));
  }

  publishAudioOut(frame: AudioFrame): void {
    this.nc.publish(subjects.audioOut(frame.sessionId), encodeAudioFrame(frame));
  }

  /** Keep a message that cannot be processed, with why. Never throws: a failure is logged loudly. */
  async deadLetter(input: DeadLetterInput, reason: DlqReason, detail: string): Promise<void> {
    const h = natsHeaders();
    if (input.headers) for (const k of input.headers.keys()) if (k !== HEADERS.msgId) h.set(k, input.headers.get(k));
    h.set(HEADERS.dlqReason, reason);
    h.set(HEADERS.dlqDetail, safeHeader(detail));
    h.set(HEADERS.dlqSubject, safeHeader(input.subject));
    h.set(HEADERS.service, this.service);
    if (input.stream) h.set(HEADERS.dlqStream, input.stream);
    if (input.seq !== undefined) h.set(HEADERS.dlqSeq, String(input.seq));
    if (input.deliveries !== undefined) h.set(HEADERS.dlqDeliveries, String(input.deliveries));
    if (input.consumer) h.set(HEADERS.dlqConsumer, input.consumer);
    const msgID = input.stream && input.seq !== undefined ? `dlq:${input.stream}:${input.seq}` : undefined;
    this.metrics?.counter('dlq_messages_total', 'messages dead-lettered', ['reason']).inc({ reason });
    this.log.warn({ reason, detail: detail.slice(0, 500), subject: input.subject.slice(0, 200), stream: input.stream, seq: input.seq, deliveries: input.deliveries }, 'message dead-lettered');
    try {
      await this.js.publish(subjects.dlq(this.service, reason), input.data, { headers: h, msgID });
    } catch (err) {
      this.log.error({ err: (err as Error).message, reason, subject: input.subject.slice(0, 200) }, 'DLQ publish failed: message kept unacked for redelivery');
      throw new BusError('DLQ_FAILED', `dead-letter publish failed: ${(err as Error).message}`, true, { cause: err });
    }
  }

  async kv(bucket: string): Promise<KV> {
    return this.kvm.open(bucket, { bindOnly: true });
  }

  /** Stop sending and receiving, flush what is pending, close. Idempotent. */
  async drain(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#loopGaps?.stop();
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'NATS drain failed; closing');
      await this.nc.close().catch(() => undefined);
    }
  }
}

/** Header values cannot carry CR/LF or non-ASCII safely: escape them. */
function safeHeader(value: string): string {
  return encodeURIComponent(value.slice(0, 1000)).replace(/%20/g, ' ').replace(/%2F/gi, '/').replace(/%3A/gi, ':');
}

export function dlqReasonFor(err: unknown): DlqReason {
  if (isContractError(err)) return err.code === 'TOO_LARGE' ? 'too_large' : 'invalid';
  return 'permanent_error';
}

export function describeMsg(msg: JsMsg): DeadLetterInput {
  return { subject: msg.subject, data: msg.data, headers: msg.headers, stream: msg.info.stream, seq: msg.seq, deliveries: msg.info.deliveryCount, consumer: msg.info.consumer };
}

export { STREAMS };
