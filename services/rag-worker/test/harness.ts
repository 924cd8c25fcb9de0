// Test harness for the rag-worker service: a producer bus that sends commands the way the
// orchestrator does, a recorder of every event on VOICE_EVENTS, and a local OpenAI-compatible
// chat server whose behaviour each test chooses.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeliverPolicy } from '@nats-io/jetstream';
import { Bus, provision } from '@switchboard/bus';
import { STREAMS, decodeEvent, makeCommand, subjects, type Event, type TurnContext } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { eventually } from '@switchboard/testkit';

/** A rag-worker replica's environment on the test's nats-server (`extra` overrides). */
export const baseEnv = (url: string, replica: string, extra: Record<string, string> = {}): Record<string, string> => ({
  NATS_URL: url,
  HTTP_PORT: '0',
  HTTP_HOST: '127.0.0.1',
  PARTITIONS: '16',
  REPLICA_ID: replica,
  KB_WATCH: '0',
  LOG_LEVEL: 'info',
  RETRY_BACKOFF_MS: '100,200',
  SHUTDOWN_BUDGET_MS: '20000',
  ...extra,
});

export async function producerBus(url: string): Promise<Bus> {
  const bus = await Bus.connect({ servers: url, service: 'test-producer', log: createLogger({ service: 'test-producer', level: 'warn' }), partitions: 16 });
  await provision(bus.nc, bus.jsm, { leaseTtlMs: 1000 });
  return bus;
}

export interface Seen {
  seq: number;
  /** When the recorder received it (ms). */
  at: number;
  event: Event;
}

/** Every event on the stream, in stream order (an ordered consumer from the start). */
export class EventRecorder {
  readonly all: Seen[] = [];
  #stop: (() => Promise<void>) | undefined;

  static async start(bus: Bus): Promise<EventRecorder> {
    const r = new EventRecorder();
    const c = await bus.js.consumers.get(STREAMS.events, { filter_subjects: subjects.eventsAll, deliver_policy: DeliverPolicy.All });
    const msgs = await c.consume({
      callback: (m) => {
        r.all.push({ seq: m.seq, at: Date.now(), event: decodeEvent(m.data) });
      },
    });
    r.#stop = async () => void (await msgs.close());
    return r;
  }

  of(sessionId: string, turnId?: string): Seen[] {
    return this.all.filter((s) => s.event.sessionId === sessionId && (turnId === undefined || s.event.correlationId === turnId));
  }

  types(sessionId: string, turnId?: string): string[] {
    return this.of(sessionId, turnId).map((s) => s.event.eventType);
  }

  /** Waits for an event of `type` for the session (and turn). */
  async waitFor(sessionId: string, type: string, turnId?: string, timeoutMs = 10_000): Promise<Seen> {
    return eventually(() => this.of(sessionId, turnId).find((s) => s.event.eventType === type), `${type} for ${sessionId}`, timeoutMs);
  }

  async stop(): Promise<void> {
    await this.#stop?.();
  }
}

let counter = 0;

export interface QueryInit {
  text: string;
  history?: TurnContext[];
  language?: string;
  skipIntent?: boolean;
  deadline?: number;
  /** Command index (`<sid>:<n>:0`); default a fresh one. */
  n?: number;
}

export function queryCommand(sessionId: string, turnId: string, q: QueryInit) {
  const n = q.n ?? ++counter;
  return makeCommand(
    'RAG_QUERY',
    { sessionId, source: 'session-orchestrator', commandId: `${sessionId}:${n}:0`, correlationId: turnId },
    {
      turnId,
      text: q.text,
      history: q.history ?? [],
      language: q.language ?? '',
      skipIntent: q.skipIntent ?? false,
      deadline: q.deadline ?? 0,
    },
  );
}

export async function sendQuery(bus: Bus, sessionId: string, turnId: string, q: QueryInit) {
  const cmd = queryCommand(sessionId, turnId, q);
  await bus.publishCommand('rag', cmd);
  return cmd;
}

export async function sendCancel(bus: Bus, sessionId: string, turnId: string, reason = 'superseded') {
  const cmd = makeCommand('RAG_CANCEL', { sessionId, source: 'session-orchestrator', commandId: `${sessionId}:${++counter}:0`, correlationId: turnId }, { turnId, reason });
  await bus.publishCommand('rag', cmd);
  return cmd;
}

/** TurnContext from a READY event, as the orchestrator stores it. */
export function contextOf(userText: string, ready: Event): TurnContext {
  const r = ready.ragAnswerReady!;
  return { turnId: r.turnId, userText, agentText: r.text, intent: r.intent, sourceIds: r.sourceIds };
}

// ---- a local OpenAI-compatible chat server -----------------------------------------------------

export type LlmMode =
  /** first sentence after `firstMs`, then one sentence every `gapMs` (5 in all) */
  | { kind: 'slow'; firstMs: number; gapMs: number }
  /** HTTP 500 on every request */
  | { kind: 'fail' }
  /** HTTP 500 on the first request, then a quick answer */
  | { kind: 'fail-once' }
  /** a fixed reply, streamed in the given pieces */
  | { kind: 'reply'; pieces: string[] };

export interface LlmRequest {
  body: { model?: string; messages?: Array<{ role: string; content: string }> };
  closedEarly: boolean;
  chunksSent: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const chunk = (content: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

export class FakeLlm {
  mode: LlmMode = { kind: 'reply', pieces: ['Hello. '] };
  requests: LlmRequest[] = [];
  #server: Server | undefined;
  baseUrl = '';

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString('utf8')));
      req.on('end', () => {
        const record: LlmRequest = { body: JSON.parse(raw || '{}') as LlmRequest['body'], closedEarly: false, chunksSent: 0 };
        this.requests.push(record);
        res.on('close', () => {
          if (!res.writableFinished) record.closedEarly = true;
        });
        this.#handle(record, req, res).catch(() => res.destroy());
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.baseUrl = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async #handle(record: LlmRequest, _req: IncomingMessage, res: ServerResponse): Promise<void> {
    const mode = this.mode;
    const fail = (): void => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'model overloaded' } }));
    };
    const send = (text: string): boolean => {
      if (record.closedEarly || res.destroyed) return false;
      res.write(text);
      record.chunksSent++;
      return true;
    };
    if (mode.kind === 'fail' || (mode.kind === 'fail-once' && this.requests.length === 1)) return fail();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (mode.kind === 'slow') {
      await sleep(mode.firstMs);
      for (let i = 1; i <= 5; i++) {
        if (i > 1) await sleep(mode.gapMs);
        if (!send(chunk(`This is sentence ${['one', 'two', 'three', 'four', 'five'][i - 1]} of the answer. `))) return;
      }
    } else if (mode.kind === 'fail-once') {
      send(chunk('Your order is on its way. '));
    } else {
      // Written as raw bytes so a piece boundary may fall inside a multi-byte character.
      const bytes = Buffer.from(mode.pieces.map((p) => chunk(p)).join(''), 'utf8');
      const cut = Math.floor(bytes.length / 2) + 1;
      res.write(bytes.subarray(0, cut));
      await sleep(5);
      res.write(bytes.subarray(cut));
    }
    res.end('data: [DONE]\n\n');
  }

  reset(mode: LlmMode): void {
    this.mode = mode;
    this.requests = [];
  }

  async stop(): Promise<void> {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server!.close(() => r()));
  }
}

/** Sum of a Prometheus counter/gauge's samples whose label set includes `labels`. */
export async function metricValue(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
