// The rag-worker service definition: config (zod, from env) → engine → NATS shell.
import { z } from 'zod';
import { ConfigError, type ServiceDefinition } from '@switchboard/runtime';
import { DEFAULT_KB_DIR, configFromEnv, type RagConfig } from './config';
import { createRagEngine } from './engine/engine';
import { warmUp } from './engine/warmup';
import { createRagWorker } from './shell/worker';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const RagWorkerConfigSchema = z.object({
  /** The knowledge base folder (default: the package's kb/). */
  KB_DIR: z.string().min(1).default(DEFAULT_KB_DIR),
  INTENTS_PATH: z.string().min(1).optional(),
  KB_WATCH: z.enum(['0', '1', 'true', 'false', 'no', 'yes']).default('1'),
  COMPANY_NAME: z.string().min(1).optional(),
  MAX_IN_FLIGHT: int(1, 1024).default(16),
  MAX_DELIVER: int(1, 20).default(3),
  /**
   * ack_wait of the shared query consumer: queries a dead replica had pulled go to another replica
   * this soon (the server redelivers unacked messages after it). Live handlers report progress
   * every third of it, so a slow answer (an LLM) is not redelivered while it is being written.
   */
  ACK_WAIT_MS: int(1_000, 120_000).default(4_000),
  /** Redelivery delays after a retryable failure, comma-separated ms. */
  RETRY_BACKOFF_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated milliseconds')
    .default('200,1000')
    .transform((s) => s.split(',').map(Number)),
  /** Budget of a query whose command has no deadline. */
  QUERY_BUDGET_MS: int(100, 600_000).default(15_000),
  CANCEL_MEMORY_TTL_MS: int(1_000, 3_600_000).default(120_000),
  CANCEL_MEMORY_MAX: int(1, 1_000_000).default(10_000),
  CANCEL_CONSUMER_INACTIVE_MS: int(5_000, 86_400_000).default(60_000),
  // An OpenAI-compatible model phrases the answers when LLM_BASE_URL and LLM_MODEL are set.
  LLM_BASE_URL: z.url().optional(),
  LLM_MODEL: z.string().min(1).optional(),
  LLM_API_KEY: z.string().optional(),
  LLM_TIMEOUT_MS: int(1, 600_000).optional(),
  LLM_FIRST_TOKEN_TIMEOUT_MS: int(1, 600_000).optional(),
  LLM_IDLE_TIMEOUT_MS: int(1, 600_000).optional(),
  LLM_MAX_RETRIES: int(0, 5).optional(),
  /** 0: a failing model fails the turn (retried, then ERROR) instead of answering extractively. */
  LLM_FALLBACK: z.enum(['0', '1', 'true', 'false', 'no', 'yes']).optional(),
  /**
   * Queries answered at start-up, before the service reports ready, so the first caller's turn
   * does not pay for a cold answer path (JIT). 0 = off. Skipped when a model phrases the answers.
   */
  RAG_WARMUP_QUERIES: int(0, 1000).default(32),
  /** The warm-up starts no new query after this long. */
  RAG_WARMUP_BUDGET_MS: int(1, 60_000).default(1_500),
});
export type RagWorkerConfig = z.infer<typeof RagWorkerConfigSchema>;

const ENGINE_KEYS = [
  'KB_DIR',
  'INTENTS_PATH',
  'KB_WATCH',
  'COMPANY_NAME',
  'LLM_BASE_URL',
  'LLM_MODEL',
  'LLM_API_KEY',
  'LLM_TIMEOUT_MS',
  'LLM_FIRST_TOKEN_TIMEOUT_MS',
  'LLM_IDLE_TIMEOUT_MS',
  'LLM_MAX_RETRIES',
  'LLM_FALLBACK',
] as const satisfies ReadonlyArray<keyof RagWorkerConfig>;

/** The engine's own config, through the engine's `configFromEnv` (one mapping for both). */
export function engineConfigOf(c: RagWorkerConfig): RagConfig {
  if (c.LLM_BASE_URL !== undefined && c.LLM_MODEL === undefined) throw new ConfigError('invalid configuration:\n  LLM_MODEL: required when LLM_BASE_URL is set');
  const env: Record<string, string | undefined> = {};
  for (const k of ENGINE_KEYS) env[k] = c[k] === undefined ? undefined : String(c[k]);
  try {
    return configFromEnv(env);
  } catch (err) {
    throw new ConfigError(`invalid rag engine configuration: ${(err as Error).message}`);
  }
}

export const ragWorkerService: ServiceDefinition<typeof RagWorkerConfigSchema> = {
  name: 'rag-worker',
  schema: RagWorkerConfigSchema,
  defaults: { HTTP_PORT: '8083' },
  provision: true,
  async create(ctx) {
    const c = ctx.config;
    const engineConfig = engineConfigOf(c);
    const engine = await createRagEngine(engineConfig, { log: ctx.log.child({ component: 'rag-engine' }) });
    const stats = engine.stats();
    ctx.log.info(
      { kbDir: stats.kbDir, articles: stats.articles, passages: stats.passages, provider: engineConfig.provider.kind, watch: engineConfig.watch },
      'knowledge base indexed',
    );
    if (c.RAG_WARMUP_QUERIES > 0) {
      if (engineConfig.provider.kind !== 'extractive') {
        // Warm-up queries would be sent to the model (cost, and its latency dwarfs a cold engine).
        ctx.log.info({ provider: engineConfig.provider.kind }, 'rag engine warm-up skipped: a model phrases the answers');
      } else {
        try {
          const w = await warmUp(engine, { queries: c.RAG_WARMUP_QUERIES, budgetMs: c.RAG_WARMUP_BUDGET_MS, signal: ctx.signal });
          ctx.log.info({ queries: w.count, ms: Math.round(w.ms), stopped: w.stopped }, 'rag engine warmed');
        } catch (err) {
          // Only an optimisation: real queries meet (and report) the same error on their own path.
          ctx.log.warn({ err }, 'rag engine warm-up failed');
        }
      }
    }
    const worker = await createRagWorker(ctx, engine, {
      maxInFlight: c.MAX_IN_FLIGHT,
      maxDeliver: c.MAX_DELIVER,
      ackWaitMs: c.ACK_WAIT_MS,
      backoffMs: c.RETRY_BACKOFF_MS,
      queryBudgetMs: c.QUERY_BUDGET_MS,
      cancelMemoryTtlMs: c.CANCEL_MEMORY_TTL_MS,
      cancelMemoryMax: c.CANCEL_MEMORY_MAX,
      cancelConsumerInactiveMs: c.CANCEL_CONSUMER_INACTIVE_MS,
    });
    return {
      ...worker,
      async stop() {
        try {
          await worker.stop();
        } finally {
          await engine.close();
        }
      },
    };
  },
};
