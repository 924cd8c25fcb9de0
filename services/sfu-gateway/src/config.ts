// The gateway's own environment (NATS, HTTP_PORT, partitions… come from @switchboard/runtime).
// Parsed once at start-up; a bad value names the variable.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const GatewayConfigSchema = z
  .object({
    /** HMAC-SHA256 key of call tokens (shared by every gateway replica and whoever mints links). */
    SIGNALING_SECRET: z.string().min(16, 'SIGNALING_SECRET must be at least 16 characters'),
    /** Lifetime of the caller link logged at start and of minted tokens. */
    TOKEN_TTL_S: int(10, 30 * 24 * 3600).default(24 * 3600),
    /** Base URL callers reach this replica at (ingress/LB); default: the bound HTTP(S) address. */
    PUBLIC_URL: z.string().url().optional(),
    /** Default: the cached build of scripts/mediasoup/build-worker.sh. */
    MEDIASOUP_WORKER_BIN: z.string().optional(),
    MEDIASOUP_WORKERS: int(1, 64).default(availableParallelism()),
    MEDIASOUP_LOG_LEVEL: z.enum(['debug', 'warn', 'error', 'none']).default('error'),
    /** Address the WebRTC sockets bind to, and the one announced in ICE candidates (public IP/host). */
    RTC_LISTEN_IP: z.string().min(1).default('127.0.0.1'),
    ANNOUNCED_IP: z.string().optional(),
    RTC_MIN_PORT: int(1024, 65535).default(40000),
    RTC_MAX_PORT: int(1024, 65535).default(49999),
    RTC_ENABLE_TCP: z.enum(['0', '1', 'true', 'false']).default('1').transform((v) => v === '1' || v === 'true'),
    /** Optional HTTPS listener for the call page + signaling (getUserMedia needs a secure context off localhost). */
    TLS_CERT: z.string().optional(),
    TLS_KEY: z.string().optional(),
    TLS_PORT: int(0, 65535).default(8443),
    /** Limits. */
    MAX_CALLS: int(1, 10_000).default(200),
    MAX_SUPERVISORS_PER_CALL: int(0, 32).default(4),
    MAX_MESSAGE_BYTES: int(1024, 1024 * 1024).default(64 * 1024),
    MAX_MESSAGES_PER_S: int(1, 10_000).default(50),
    /** A socket must send its join within this. */
    JOIN_TIMEOUT_MS: int(100, 120_000).default(10_000),
    /** The caller must get DTLS up within this. */
    CONNECT_TIMEOUT_MS: int(1000, 300_000).default(20_000),
    ICE_DISCONNECT_TIMEOUT_MS: int(500, 120_000).default(5_000),
    /** Agent audio queued per call before frames are dropped. */
    MAX_AGENT_QUEUE_MS: int(1000, 600_000).default(60_000),
    CALL_LANGUAGE: z.string().min(2).default('en-US'),
  })
  .refine((c) => c.RTC_MIN_PORT <= c.RTC_MAX_PORT, { message: 'RTC_MIN_PORT must be <= RTC_MAX_PORT', path: ['RTC_MIN_PORT'] })
  .refine((c) => (c.TLS_CERT === undefined) === (c.TLS_KEY === undefined), { message: 'set both TLS_CERT and TLS_KEY, or neither', path: ['TLS_CERT'] });
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export class GatewayStartupError extends Error {
  readonly retryable = false;
  constructor(
    readonly code: 'NO_WORKER_BINARY' | 'WEB_BUNDLE_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'GatewayStartupError';
  }
}

/** MEDIASOUP_WORKER_BIN, or the path build-worker.sh caches its build at. */
export function resolveWorkerBin(configured: string | undefined): string {
  if (configured) {
    if (!existsSync(configured)) throw new GatewayStartupError('NO_WORKER_BINARY', `MEDIASOUP_WORKER_BIN=${configured} does not exist`);
    return configured;
  }
  const script = join(REPO_ROOT, 'scripts/mediasoup/build-worker.sh');
  let path = '';
  try {
    path = execFileSync('bash', [script, '--print-path'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not built yet: reported below
  }
  if (!path || !existsSync(path)) {
    throw new GatewayStartupError(
      'NO_WORKER_BINARY',
      `no mediasoup worker binary: run \`bash scripts/mediasoup/build-worker.sh\` (or scripts/bootstrap.sh), or set MEDIASOUP_WORKER_BIN`,
    );
  }
  return path;
}
