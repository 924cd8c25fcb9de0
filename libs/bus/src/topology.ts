// What the bus provisions: every stream, KV bucket and shared consumer, in one table.
// Provisioning is create-or-update: it never deletes a stream, a consumer or data.
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type ConsumerConfig } from '@nats-io/jetstream';
import { Kvm, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { BUCKETS, LIMITS, STREAMS, subjects, COMMAND_TARGETS } from '@switchboard/contracts';

export interface TopologyOptions {
  /** JetStream replicas for file-backed streams (3 in a cluster). */
  replicas?: number;
  /** Dedup window for events/commands (Nats-Msg-Id). */
  duplicateWindowMs?: number;
  /** TTL of partition leases (the `leases` bucket's max age). */
  leaseTtlMs?: number;
  audioMaxAgeMs?: number;
}

const ms = (n: number) => n * 1_000_000; // nanoseconds

export function streamConfigs(opts: TopologyOptions = {}): Array<Partial<StreamConfig> & { name: string; subjects: string[] }> {
  const replicas = opts.replicas ?? 1;
  const dup = ms(opts.duplicateWindowMs ?? 120_000);
  const durable = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    duplicate_window: dup,
    max_msg_size: LIMITS.maxMessageBytes * 2, // oversized messages must reach our validator (→ DLQ), not bounce at publish
  } satisfies Partial<StreamConfig>;
  return [
    { name: STREAMS.events, subjects: [subjects.eventsAll], ...durable, max_age: ms(24 * 3600_000), description: 'session events for the orchestrator' },
    ...COMMAND_TARGETS.map((t) => ({
      name: STREAMS.cmd[t],
      subjects: [subjects.commandsOf(t)],
      ...durable,
      max_age: ms(3600_000),
      description: `commands for ${t}`,
    })),
    audioStream(STREAMS.audioIn, subjects.audioInAll, 'caller audio, 20 ms PCM16 frames', opts),
    audioStream(STREAMS.audioOut, subjects.audioOutAll, 'agent audio, 20 ms PCM16 frames', opts),
    {
      name: STREAMS.dlq,
      subjects: [subjects.dlqAll],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      num_replicas: replicas,
      duplicate_window: dup,
      max_age: ms(7 * 24 * 3600_000),
      max_msg_size: LIMITS.maxMessageBytes * 4,
      description: 'dead letters: invalid or undeliverable messages, with a reason header',
    },
  ];
}

/** Audio: memory storage, short max age (a restarted reader replays the last seconds), no replicas. */
function audioStream(name: string, subject: string, description: string, opts: TopologyOptions): Partial<StreamConfig> & { name: string; subjects: string[] } {
  return {
    name,
    subjects: [subject],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
    max_age: ms(opts.audioMaxAgeMs ?? 10_000),
    max_msg_size: 8 * 1024,
    description,
  };
}

export function bucketConfigs(opts: TopologyOptions = {}): Array<{ name: string; options: Partial<KvOptions> }> {
  const replicas = opts.replicas ?? 1;
  return [
    { name: BUCKETS.sessions, options: { history: 1, storage: StorageType.File, replicas, description: 'orchestrator session state (CAS)' } },
    { name: BUCKETS.leases, options: { history: 1, storage: StorageType.File, replicas, ttl: opts.leaseTtlMs ?? 1_000, description: 'partition leases' } },
    { name: BUCKETS.aliases, options: { history: 1, storage: StorageType.File, replicas, ttl: 24 * 3600_000, description: 'external id → session id' } },
  ];
}

/** A durable pull consumer. max_deliver is unlimited on the server: the bus counts deliveries itself and dead-letters. */
export function durableConsumer(name: string, filterSubject: string, extra: Partial<ConsumerConfig> = {}): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: name,
    filter_subject: filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ms(30_000),
    max_deliver: -1,
    max_ack_pending: 1000,
    ...extra,
  };
}

/**
 * A per-replica fan-out consumer (cancels, mic commands): every replica sees every new message;
 * the server removes it `inactiveMs` after its replica is gone.
 */
export function fanOutConsumer(name: string, filterSubject: string, inactiveMs = 60_000): Partial<ConsumerConfig> & { durable_name: string } {
  return durableConsumer(name, filterSubject, { deliver_policy: DeliverPolicy.New, inactive_threshold: ms(inactiveMs) });
}

export interface ProvisionReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

const MUTABLE_STREAM_FIELDS = ['subjects', 'max_age', 'max_msg_size', 'duplicate_window', 'num_replicas', 'description', 'discard'] as const;

function differs(current: Record<string, unknown>, wanted: Record<string, unknown>, fields: readonly string[]): boolean {
  return fields.some((f) => wanted[f] !== undefined && JSON.stringify(current[f]) !== JSON.stringify(wanted[f]));
}

/** A JetStream API error for a stream or consumer that does not exist. */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || e?.api_error?.err_code === 10014 || /not found/i.test(String(e?.message ?? ''));
}

/**
 * The JetStream API is not answering because the cluster is electing (a node just died):
 * nats-server 2.9 drops a request to a leaderless consumer or meta layer (the client times out)
 * or answers 503 "jetstream is not enabled".
 */
export function isElecting(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown; api_error?: { code?: number; err_code?: number } } | undefined;
  if (!e) return false;
  if (e.name === 'TimeoutError' || e.name === 'NoResponders' || e.name === 'JetStreamNotEnabled') return true;
  if (e.name === 'RequestError' && e.cause) return isElecting(e.cause);
  // 10005 no suitable peers (a cluster still forming), 10008 temporarily unavailable, 10039/10076 not enabled
  const code = e.api_error?.err_code;
  if (code === 10005 || code === 10008 || code === 10039 || code === 10076) return true;
  if (e.api_error?.code === 503 || e.code === 503 || e.code === '503') return true;
  return /^timeout$|jetstream is not enabled|jetstream not enabled|no responders|temporarily unavailable|no suitable peers/i.test(String(e.message ?? ''));
}

/**
 * Runs an idempotent JetStream API call again while the cluster is electing, for up to budgetMs.
 * A longer request timeout would not do: the request dropped by a leaderless group is not
 * answered once a leader is elected; a new request is.
 */
export async function whileElecting<T>(fn: () => Promise<T>, budgetMs: number, onRetry?: (err: unknown, attempt: number) => void): Promise<T> {
  const until = Date.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isElecting(err) || Date.now() >= until) throw err;
      onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(500, 100 * attempt)));
    }
  }
}

export async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }, report: ProvisionReport): Promise<void> {
  try {
    const info = await jsm.streams.info(cfg.name);
    if (differs(info.config as unknown as Record<string, unknown>, cfg as Record<string, unknown>, MUTABLE_STREAM_FIELDS)) {
      await jsm.streams.update(cfg.name, { ...info.config, ...cfg });
      report.updated.push(`stream ${cfg.name}`);
    } else report.unchanged.push(`stream ${cfg.name}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(cfg);
    report.created.push(`stream ${cfg.name}`);
  }
}

const MUTABLE_CONSUMER_FIELDS = ['ack_wait', 'max_deliver', 'max_ack_pending', 'filter_subject', 'description', 'inactive_threshold'] as const;

export async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }, report?: ProvisionReport): Promise<void> {
  try {
    const info = await jsm.consumers.info(stream, cfg.durable_name);
    if (differs(info.config as unknown as Record<string, unknown>, cfg as Record<string, unknown>, MUTABLE_CONSUMER_FIELDS)) {
      const { durable_name: _d, deliver_policy: _p, ack_policy: _a, ...mutable } = cfg;
      await jsm.consumers.update(stream, cfg.durable_name, mutable);
      report?.updated.push(`consumer ${stream}/${cfg.durable_name}`);
    } else report?.unchanged.push(`consumer ${stream}/${cfg.durable_name}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, cfg);
    report?.created.push(`consumer ${stream}/${cfg.durable_name}`);
  }
}

export async function ensureBucket(nc: NatsConnection, jsm: JetStreamManager, name: string, options: Partial<KvOptions>, report: ProvisionReport): Promise<void> {
  // A KV bucket is the stream KV_<name>; `open` does not prove it exists, the stream info does.
  try {
    await jsm.streams.info(`KV_${name}`);
    report.unchanged.push(`bucket ${name}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await new Kvm(nc).create(name, options);
    report.created.push(`bucket ${name}`);
  }
}

export interface ProvisionOptions extends TopologyOptions {
  /** How long each step may keep retrying transient JetStream API failures. Default 60 s. */
  budgetMs?: number;
  /** Told about every retried failure. */
  onRetry?: (step: string, attempt: number, err: Error) => void;
}

async function step(name: string, run: () => Promise<void>, opts: ProvisionOptions): Promise<void> {
  let attempts = 1;
  try {
    // each step is idempotent: a create that timed out but happened is found by the next info
    await whileElecting(run, opts.budgetMs ?? 60_000, (err, attempt) => {
      attempts = attempt + 1;
      opts.onRetry?.(name, attempt, err as Error);
    });
  } catch (err) {
    throw new Error(`provisioning ${name} failed after ${attempts} attempt(s): ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Create or update every stream and bucket. Safe to run any number of times, concurrently with
 * traffic; transient JetStream API failures (a cluster still electing leaders) are retried per step
 * within `budgetMs`.
 */
export async function provision(nc: NatsConnection, jsm: JetStreamManager, opts: ProvisionOptions = {}): Promise<ProvisionReport> {
  const report: ProvisionReport = { created: [], updated: [], unchanged: [] };
  for (const s of streamConfigs(opts)) await step(`stream ${s.name}`, () => ensureStream(jsm, s, report), opts);
  for (const b of bucketConfigs(opts)) await step(`bucket ${b.name}`, () => ensureBucket(nc, jsm, b.name, b.options, report), opts);
  return report;
}
