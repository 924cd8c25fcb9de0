// Structured JSON logging. Transcripts and personal data are redacted by default: a call
// center's logs are read by more people than its recordings, so opting in is explicit.
import os from 'node:os';
import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger, LoggerOptions } from 'pino';

export type Logger = PinoLogger;

export interface CreateLoggerOptions {
  service: string;
  /** pino level; defaults to env LOG_LEVEL, then 'info'. */
  level?: string;
  /** Replica identity (pod name); defaults to env REPLICA_ID, HOSTNAME, then os.hostname(). */
  replicaId?: string;
  /** Where JSON lines go; defaults to stdout. Tests pass a stream to capture lines. */
  destination?: DestinationStream | NodeJS.WritableStream;
  /** Log transcripts and PII verbatim; defaults to env LOG_TRANSCRIPTS=1. */
  logTranscripts?: boolean;
}

export const REDACTED = '[redacted]';

/** Keys whose values are transcripts or personal data. */
export const SENSITIVE_KEYS: readonly string[] = [
  'transcript',
  'text',
  'userText',
  'agentText',
  'callerId',
  'phone',
  'email',
  'password',
  'token',
  'secret',
  'authorization',
];

/** Redaction paths: each sensitive key at the top level and nested one and two levels deep. */
export function redactPaths(keys: readonly string[] = SENSITIVE_KEYS): string[] {
  return keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  const env = process.env;
  const logTranscripts = opts.logTranscripts ?? env['LOG_TRANSCRIPTS'] === '1';
  const replica = opts.replicaId ?? env['REPLICA_ID'] ?? env['HOSTNAME'] ?? os.hostname();
  const options: LoggerOptions = {
    level: opts.level ?? env['LOG_LEVEL'] ?? 'info',
    base: { service: opts.service, replica, pid: process.pid },
    // Labels ("info") rather than numbers make the lines greppable without a pretty-printer.
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (!logTranscripts) options.redact = { paths: redactPaths(), censor: REDACTED };
  return opts.destination ? pino(options, opts.destination as DestinationStream) : pino(options);
}

/** A child logger carrying the session id (and any extra context) on every line. */
export function sessionLogger(log: Logger, sessionId: string, extra?: Record<string, unknown>): Logger {
  return log.child({ ...extra, sessionId });
}
