// Configuration every service shares, parsed once from the environment with zod. A bad value
// stops the service at start-up with a message naming the variable.
import os from 'node:os';
import { z } from 'zod';
import { DEFAULT_PARTITIONS } from '@switchboard/contracts';

export const BaseConfigSchema = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  NATS_TOKEN: z.string().optional(),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535),
  HTTP_HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_TRANSCRIPTS: z.enum(['0', '1', 'true', 'false']).default('0').transform((v) => v === '1' || v === 'true'),
  PARTITIONS: z.coerce.number().int().min(1).max(1024).default(DEFAULT_PARTITIONS),
  REPLICA_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  NATS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** TTL of partition leases = the leases bucket's max age (set when provisioning). */
  LEASE_TTL_MS: z.coerce.number().int().min(500).max(60_000).default(1_000),
  SHUTDOWN_BUDGET_MS: z.coerce.number().int().min(100).default(10_000),
  /** Create missing streams/buckets at start-up (dev). Off in Kubernetes: a hook job provisions, and
   *  services' own NATS users may not manage streams. */
  PROVISION: z.enum(['0', '1', 'true', 'false']).default('1').transform((v) => v === '1' || v === 'true'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
});
export type BaseConfig = z.infer<typeof BaseConfigSchema>;

export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
  readonly retryable = false;
}

/** Parse `env` against the base schema merged with a service's own; throws a readable ConfigError. */
export function parseConfig<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>, defaults: Record<string, string> = {}): z.infer<S> & BaseConfig {
  const merged = BaseConfigSchema.extend(schema.shape);
  const input = { ...defaults, ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')) };
  const r = merged.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return r.data as z.infer<S> & BaseConfig;
}

export function defaultReplicaId(service: string): string {
  return `${service}-${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32)}-${process.pid}`;
}
