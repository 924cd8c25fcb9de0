// The WebSocket signaling protocol between the call page and the gateway (JSON text frames).
// Client → server messages are validated here with zod; the server → client shapes are types
// the page imports (type-only, so the browser bundle does not pull zod in).
//
//   page                                   gateway
//   join {token, alias?}          →
//                                 ←        joined {sessionId, role, peerId, routerRtpCapabilities}
//   request {id, method, data}    →        (createTransport | connectTransport | produce | consume)
//                                 ←        response {id, ok, data | error}
//                                 ←        update {update}        live state / transcript / latency
//                                 ←        playback {...}         agent utterance started / done
//   hangup                        →
//                                 ←        ended {reason} | error {code, message}  (then close)
import { z } from 'zod';
import { SignalingError } from './errors';

const id = z.string().min(1).max(128);
const obj = z.record(z.string(), z.unknown());

export const RequestSchemas = {
  createTransport: z.object({ direction: z.enum(['send', 'recv']) }),
  connectTransport: z.object({ transportId: id, dtlsParameters: obj }),
  produce: z.object({ transportId: id, kind: z.literal('audio'), rtpParameters: obj }),
  consume: z.object({ transportId: id, rtpCapabilities: obj }),
} as const;
export type RequestMethod = keyof typeof RequestSchemas;

const JoinSchema = z.object({
  type: z.literal('join'),
  token: z.string().min(1).max(2048),
  /** An external id the caller brings, e.g. `client:<crm id>` (bound in the aliases bucket). */
  alias: z.string().min(1).max(128).optional(),
});
const RequestSchema = z.object({
  type: z.literal('request'),
  id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  method: z.enum(Object.keys(RequestSchemas) as [RequestMethod, ...RequestMethod[]]),
  data: z.unknown(),
});
const HangupSchema = z.object({ type: z.literal('hangup') });
const PingSchema = z.object({ type: z.literal('ping'), t: z.number().optional() });

export type ClientMessage = z.infer<typeof JoinSchema> | z.infer<typeof RequestSchema> | z.infer<typeof HangupSchema> | z.infer<typeof PingSchema>;

const BY_TYPE = { join: JoinSchema, request: RequestSchema, hangup: HangupSchema, ping: PingSchema } as const;

/** Parses one text frame; throws SignalingError BAD_JSON / UNKNOWN_TYPE / BAD_MESSAGE with a readable reason. */
export function parseClientMessage(text: string): ClientMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SignalingError('BAD_JSON', 'message is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SignalingError('BAD_MESSAGE', 'message must be a JSON object');
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !(type in BY_TYPE)) {
    throw new SignalingError('UNKNOWN_TYPE', `unknown message type ${JSON.stringify(String(type).slice(0, 40))} (expected ${Object.keys(BY_TYPE).join(', ')})`);
  }
  const r = BY_TYPE[type as keyof typeof BY_TYPE].safeParse(raw);
  if (!r.success) throw new SignalingError('BAD_MESSAGE', `invalid ${type}: ${issues(r.error)}`);
  return r.data;
}

export function parseRequestData<M extends RequestMethod>(method: M, data: unknown): z.infer<(typeof RequestSchemas)[M]> {
  const r = RequestSchemas[method].safeParse(data);
  if (!r.success) throw new SignalingError('BAD_REQUEST', `invalid ${method} data: ${issues(r.error)}`);
  return r.data as z.infer<(typeof RequestSchemas)[M]>;
}

function issues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** What the orchestrator publishes on subjects.sessionUpdates (forwarded to the page as is). */
export interface SessionUpdateView {
  sessionId: string;
  state: string;
  eventType: string;
  seq: number;
  outcome: string;
  transitions: { from: string; to: string; eventType: string; at: number; latencyMs: number; turnId: string; rejected?: true }[];
  turnId: string;
  text?: { role: 'caller' | 'agent'; final: boolean; text: string };
  latency?: Record<string, number | undefined>;
}

export type ServerMessage =
  | { type: 'joined'; sessionId: string; role: 'caller' | 'supervisor'; peerId: string; routerRtpCapabilities: unknown; serverTime: number }
  | { type: 'response'; id: number; ok: true; data: unknown }
  | { type: 'response'; id: number; ok: false; error: { code: string; message: string } }
  | { type: 'update'; update: SessionUpdateView; serverTime: number }
  | { type: 'playback'; event: 'started' | 'done'; turnId: string; speakId: string; kind: string; durationMs?: number; interrupted?: boolean; serverTime: number }
  | { type: 'pong'; t?: number; serverTime: number }
  | { type: 'ended'; reason: string; serverTime: number }
  | { type: 'error'; code: string; message: string };
