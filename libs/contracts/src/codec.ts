// Wire codecs. Events and commands travel as UTF-8 JSON of the generated types (every
// field present, so "required" fields are visibly required); audio frames as binary
// protobuf. Decoding is the one validation path every consumer uses.
import type { z } from 'zod';
import { AudioFrame } from './gen/switchboard/v1/audio';
import { Command, CommandType } from './gen/switchboard/v1/commands';
import { Event, EventType } from './gen/switchboard/v1/events';
import { ContractError } from './errors';
import { SESSION_ID_RE } from './ids';
import {
  COMMAND_BODIES,
  CommandEnvelopeSchema,
  EVENT_PAYLOADS,
  EventEnvelopeSchema,
  LIMITS,
  type KnownCommandType,
  type KnownEventType,
} from './schemas';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function issuesOf(err: z.ZodError): string[] {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
}

function parseJson(bytes: Uint8Array, what: string, maxBytes: number): Record<string, unknown> {
  if (bytes.byteLength > maxBytes) {
    throw new ContractError('TOO_LARGE', `${what} is ${bytes.byteLength} bytes, limit ${maxBytes}`);
  }
  let textValue: string;
  try {
    textValue = utf8.decode(bytes);
  } catch {
    throw new ContractError('INVALID_UTF8', `${what} is not valid UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(textValue);
  } catch (err) {
    throw new ContractError('INVALID_JSON', `${what} is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ContractError('INVALID_JSON', `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

const EVENT_HEADER_KEYS = new Set(['eventId', 'eventType', 'sessionId', 'source', 'timestamp', 'correlationId', 'metadata']);
const COMMAND_HEADER_KEYS = new Set(['commandId', 'commandType', 'sessionId', 'source', 'timestamp', 'correlationId', 'metadata']);

function onlyPayloadKey(raw: Record<string, unknown>, headerKeys: Set<string>, expected: string, what: string): unknown {
  const present = Object.keys(raw).filter((k) => !headerKeys.has(k) && raw[k] !== undefined && raw[k] !== null);
  if (present.length !== 1 || present[0] !== expected) {
    throw new ContractError(
      'PAYLOAD_MISMATCH',
      `${what} needs exactly one payload '${expected}', got ${present.length === 0 ? 'none' : present.join(', ')}`,
    );
  }
  return raw[expected];
}

export interface DecodeOptions {
  maxBytes?: number;
}

/** How one kind of envelope (event or command) is laid out on the wire. */
interface EnvelopeSpec {
  what: 'event' | 'command';
  /** the envelope field naming the type, e.g. eventType */
  typeKey: string;
  /** the envelope field carrying the id, e.g. eventId */
  idKey: string;
  /** 'payload' for events, 'body' for commands (error messages) */
  part: string;
  table: Readonly<Record<string, readonly [string, { safeParse(v: unknown): { success: true; data: unknown } | { success: false; error: z.ZodError } }]>>;
  header: { safeParse(v: unknown): { success: true; data: object } | { success: false; error: z.ZodError } };
  headerKeys: Set<string>;
  empty: () => object;
}

const EVENT_SPEC: EnvelopeSpec = {
  what: 'event',
  typeKey: 'eventType',
  idKey: 'eventId',
  part: 'payload',
  table: EVENT_PAYLOADS as unknown as EnvelopeSpec['table'],
  header: EventEnvelopeSchema as unknown as EnvelopeSpec['header'],
  headerKeys: EVENT_HEADER_KEYS,
  empty: () => Event.fromPartial({}),
};

const COMMAND_SPEC: EnvelopeSpec = {
  what: 'command',
  typeKey: 'commandType',
  idKey: 'commandId',
  part: 'body',
  table: COMMAND_BODIES as unknown as EnvelopeSpec['table'],
  header: CommandEnvelopeSchema as unknown as EnvelopeSpec['header'],
  headerKeys: COMMAND_HEADER_KEYS,
  empty: () => Command.fromPartial({}),
};

/** The one validation path for events and commands: size, UTF-8, JSON, type, envelope, exactly one part. */
function decodeEnvelope(spec: EnvelopeSpec, bytes: Uint8Array, opts: DecodeOptions): object {
  const raw = parseJson(bytes, spec.what, opts.maxBytes ?? LIMITS.maxMessageBytes);
  const type = raw[spec.typeKey];
  if (typeof type !== 'string' || !(type in spec.table)) {
    throw new ContractError('UNKNOWN_TYPE', `unknown ${spec.what} type ${JSON.stringify(type)?.slice(0, 64)}`);
  }
  const [key, schema] = spec.table[type]!;
  const head = spec.header.safeParse(raw);
  if (!head.success) throw new ContractError('INVALID_FIELDS', `invalid ${type} envelope`, issuesOf(head.error));
  const partRaw = onlyPayloadKey(raw, spec.headerKeys, key, type);
  const part = schema.safeParse(partRaw);
  if (!part.success) throw new ContractError('INVALID_FIELDS', `invalid ${type} ${spec.part}`, issuesOf(part.error).map((i) => `${key}.${i}`));
  return { ...spec.empty(), ...head.data, [spec.typeKey]: type, [key]: part.data };
}

/** Bytes → validated Event. Throws ContractError with a precise reason. */
export function decodeEvent(bytes: Uint8Array, opts: DecodeOptions = {}): Event {
  return decodeEnvelope(EVENT_SPEC, bytes, opts) as Event;
}

export function encodeEvent(event: Event): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

/** Bytes → validated Command. */
export function decodeCommand(bytes: Uint8Array, opts: DecodeOptions = {}): Command {
  return decodeEnvelope(COMMAND_SPEC, bytes, opts) as Command;
}

/** A decoder for one command type: the subject filter selects by the subject's last token, and
 *  the body must agree with it. */
export function decodeCommandOf(type: CommandTypeName): (bytes: Uint8Array, subject?: string) => Command {
  return (bytes, subject = '') => {
    const cmd = decodeCommand(bytes);
    if (cmd.commandType !== type) throw new ContractError('PAYLOAD_MISMATCH', `expected ${type}, got ${cmd.commandType}${subject ? ` on ${subject}` : ''}`);
    return cmd;
  };
}

export function encodeCommand(command: Command): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export const AUDIO_LIMITS = { maxPcmBytes: 3840, sampleRates: [16000, 48000] as readonly number[] } as const;

/** Binary protobuf → validated AudioFrame. */
export function decodeAudioFrame(bytes: Uint8Array): AudioFrame {
  if (bytes.byteLength > AUDIO_LIMITS.maxPcmBytes + 512) {
    throw new ContractError('TOO_LARGE', `audio frame is ${bytes.byteLength} bytes`);
  }
  let frame: AudioFrame;
  try {
    frame = AudioFrame.decode(bytes);
  } catch (err) {
    throw new ContractError('INVALID_BINARY', `audio frame does not decode: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  if (!SESSION_ID_RE.test(frame.sessionId)) problems.push('sessionId: must be ses_<ULID>');
  if (!AUDIO_LIMITS.sampleRates.includes(frame.sampleRate)) problems.push(`sampleRate: ${frame.sampleRate} not supported`);
  if (frame.pcm.byteLength % 2 !== 0) problems.push('pcm: odd byte length');
  if (frame.pcm.byteLength > AUDIO_LIMITS.maxPcmBytes) problems.push('pcm: too long');
  if (problems.length > 0) throw new ContractError('INVALID_FIELDS', 'invalid audio frame', problems);
  return frame;
}

export function encodeAudioFrame(frame: AudioFrame): Uint8Array {
  return AudioFrame.encode(frame).finish();
}

/** PCM16LE view of a frame's bytes (copies if unaligned). */
export function pcmSamples(frame: AudioFrame): Int16Array {
  const b = frame.pcm;
  if (b.byteOffset % 2 === 0) return new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1);
  return new Int16Array(b.slice().buffer);
}

// ---- typed builders ------------------------------------------------------------------------
/** Event/command type names as plain strings ("STT_FINAL") or enum members. */
export type EventTypeName = `${KnownEventType}`;
export type CommandTypeName = `${KnownCommandType}`;
type PayloadByName = { [K in KnownEventType as `${K}`]: NonNullable<Event[(typeof EVENT_PAYLOADS)[K][0]]> };
type BodyByName = { [K in KnownCommandType as `${K}`]: NonNullable<Command[(typeof COMMAND_BODIES)[K][0]]> };
type PayloadOf<T extends EventTypeName> = PayloadByName[T];
type BodyOf<T extends CommandTypeName> = BodyByName[T];

export interface EnvelopeInit {
  sessionId: string;
  source: string;
  eventId: string;
  timestamp?: number;
  correlationId?: string;
  metadata?: Record<string, string>;
}

/** A complete envelope of `type` with the part's wire defaults filled in. */
function buildEnvelope(spec: EnvelopeSpec, type: string, id: string, init: Omit<EnvelopeInit, 'eventId'>, partial: object): object {
  const [key, schema] = spec.table[type]!;
  return {
    ...spec.empty(),
    [spec.idKey]: id,
    [spec.typeKey]: type,
    sessionId: init.sessionId,
    source: init.source,
    timestamp: init.timestamp ?? Date.now(),
    correlationId: init.correlationId ?? '',
    metadata: init.metadata ?? {},
    [key]: fillDefaults(schema, partial),
  };
}

/** Builds a complete Event of `type` with defaults filled in for the payload. */
export function makeEvent<T extends EventTypeName>(type: T, init: EnvelopeInit, payload: Partial<PayloadOf<T>>): Event {
  return buildEnvelope(EVENT_SPEC, type, init.eventId, init, payload) as Event;
}

export interface CommandInit {
  sessionId: string;
  source: string;
  commandId: string;
  timestamp?: number;
  correlationId?: string;
  metadata?: Record<string, string>;
}

export function makeCommand<T extends CommandTypeName>(type: T, init: CommandInit, body: Partial<BodyOf<T>>): Command {
  return buildEnvelope(COMMAND_SPEC, type, init.commandId, init, body) as Command;
}

/** Fill wire defaults without enforcing required-ness (builders may build invalid messages on purpose in tests). */
function fillDefaults(schema: object, partial: object): unknown {
  const defaults = defaultsCache.get(schema) ?? computeDefaults(schema);
  return { ...defaults, ...partial };
}

const defaultsCache = new WeakMap<object, Record<string, unknown>>();
function computeDefaults(schema: object): Record<string, unknown> {
  // Parse an empty object with every refinement ignored: collect each field's default.
  const shape = shapeOf(schema);
  const out: Record<string, unknown> = {};
  for (const [k, field] of Object.entries(shape)) {
    const r = (field as { safeParse(v: unknown): { success: boolean; data?: unknown } }).safeParse(undefined);
    out[k] = r.success ? r.data : undefined;
  }
  defaultsCache.set(schema, out);
  return out;
}
function shapeOf(schema: object): Record<string, unknown> {
  const s = schema as { shape?: Record<string, unknown>; _zod: { def: { type: string; in?: object; schema?: object } } };
  if (s.shape) return s.shape;
  const def = s._zod.def;
  if (def.in) return shapeOf(def.in);
  if (def.schema) return shapeOf(def.schema);
  return {};
}

export { EventType, CommandType };
