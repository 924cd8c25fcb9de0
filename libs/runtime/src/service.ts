// The lifecycle every service shares: config → logger/metrics/tracing → NATS → component →
// ops HTTP server → SIGTERM drain. Each service only writes its `create` function.
import type { z } from 'zod';
import { Bus, provision } from '@switchboard/bus';
import { createLogger, createMetrics, initTracing, startHttpServer, type Logger, type Metrics } from '@switchboard/telemetry';
import type http from 'node:http';
import { parseConfig, defaultReplicaId, type BaseConfig } from './config';

export interface ServiceContext<C> {
  config: C & BaseConfig;
  replicaId: string;
  log: Logger;
  metrics: Metrics;
  bus: Bus;
  signal: AbortSignal;
}

export interface ServiceComponent {
  start(): Promise<void>;
  /** Stop taking work, finish or hand back what is in flight. */
  stop(): Promise<void>;
  /** true, or the reason it is not ready */
  ready(): true | string;
  routes?: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean | Promise<boolean>;
  /** Called once the HTTP server listens, before start(): e.g. to handle WebSocket upgrades
   *  (the sfu-gateway's signaling) or to learn the bound port (HTTP_PORT=0 in tests). */
  attachHttp?: (server: http.Server, info: { port: number; url: string }) => void;
}

export interface ServiceDefinition<S extends z.ZodObject> {
  name: string;
  schema: S;
  defaults?: Record<string, string>;
  /** provision streams/buckets at start (dev convenience; in Kubernetes a hook job does it) */
  provision?: boolean;
  create(ctx: ServiceContext<z.infer<S>>): Promise<ServiceComponent>;
}

export interface RunningService {
  url: string;
  port: number;
  ctx: ServiceContext<unknown>;
  stop(reason?: string): Promise<void>;
}

/** Start a service in this process. `env` defaults to process.env. */
export interface StartOptions {
  /** where JSON log lines go (tests capture them); default stdout */
  logDestination?: NodeJS.WritableStream;
}

export async function startService<S extends z.ZodObject>(
  def: ServiceDefinition<S>,
  env: Record<string, string | undefined> = process.env,
  opts: StartOptions = {},
): Promise<RunningService> {
  const config = parseConfig(def.schema, env, def.defaults);
  const replicaId = config.REPLICA_ID ?? defaultReplicaId(def.name);
  const log = createLogger({ service: def.name, level: config.LOG_LEVEL, replicaId, logTranscripts: config.LOG_TRANSCRIPTS, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const metrics = createMetrics({ service: def.name });
  metrics.collectDefault();
  const tracing = initTracing({ service: def.name, endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
  const abort = new AbortController();
  const bus = await Bus.connect({
    servers: config.NATS_URL,
    service: def.name,
    replicaId,
    log,
    metrics,
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
    token: config.NATS_TOKEN,
    partitions: config.PARTITIONS,
    signal: abort.signal,
  });
  const ctx: ServiceContext<z.infer<S>> = { config, replicaId, log, metrics, bus, signal: abort.signal };
  let component: ServiceComponent;
  try {
    if (def.provision && config.PROVISION) await provision(bus.nc, bus.jsm, { replicas: config.NATS_REPLICAS, leaseTtlMs: config.LEASE_TTL_MS, onRetry: (step, attempt, err) => log.warn({ step, attempt, err: err.message }, 'provisioning: JetStream not ready, retrying') });
    component = await def.create(ctx);
  } catch (err) {
    // a failed start must not leave a reconnecting connection behind
    abort.abort();
    await bus.drain();
    await tracing.shutdown();
    throw err;
  }
  let started = false;
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  try {
    http = await startHttpServer({
      port: config.HTTP_PORT,
      host: config.HTTP_HOST,
      log,
      metrics,
      ready: () => (!started ? 'starting' : bus.closed ? 'NATS connection closed' : component.ready()),
      routes: component.routes,
    });
    component.attachHttp?.(http.server, { port: http.port, url: http.url });
    await component.start();
  } catch (err) {
    abort.abort();
    await component.stop().catch(() => undefined);
    await http?.close().catch(() => undefined);
    await bus.drain();
    await tracing.shutdown();
    throw err;
  }
  started = true;
  log.info({ port: http.port, replicaId }, `${def.name} ready`);

  let stopping: Promise<void> | undefined;
  const stop = (reason = 'stop'): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, `${def.name} stopping`);
      abort.abort();
      const budget = setTimeout(() => {
        log.error({ budgetMs: config.SHUTDOWN_BUDGET_MS }, 'shutdown budget exceeded, exiting');
        process.exit(1);
      }, config.SHUTDOWN_BUDGET_MS);
      budget.unref();
      try {
        await component.stop();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'component stop failed');
      }
      await bus.drain();
      await http.close();
      await tracing.shutdown();
      clearTimeout(budget);
      log.info(`${def.name} stopped`);
    })();
    return stopping;
  };
  return { url: http.url, port: http.port, ctx: ctx as ServiceContext<unknown>, stop };
}

/** Entry point helper for `main.ts`: start, and drain on SIGTERM/SIGINT. Never leaves a half-started process. */
export function runMain<S extends z.ZodObject>(def: ServiceDefinition<S>): void {
  startService(def).then(
    (svc) => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        process.once(sig, () => {
          void svc.stop(sig).then(() => process.exit(0));
        });
      }
    },
    (err: unknown) => {
      process.stderr.write(`${def.name} failed to start: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`${def.name}: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`);
  });
}
