// HistoryRecorder: ordered consumers from the start of VOICE_EVENTS and of every command stream.
// Ordered consumers re-create themselves after a server restart or a gap and resume after the last
// sequence seen, so the recorder itself neither loses nor repeats a message (it also drops a
// repeated stream sequence defensively: a repeat would otherwise look like a system duplicate).
// One case they do not recover from: in a cluster an ordered consumer is an R1 ephemeral on one
// node; when that node dies, nats.js keeps asking for the consumer's info (which now times out
// instead of saying "not found") and never re-creates it; and when the recorder's own connection
// was to that node, it does not even report missed heartbeats (the monitor restarts only once that
// info succeeds). So the recorder watches its progress: a stream that has messages past the last
// one seen while nothing arrived for STALL_MS gets a new ordered consumer after that sequence.
import { DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Bus } from '@switchboard/bus';
import { COMMAND_TARGETS, STREAMS, decodeCommand, decodeEvent, sessionIdOfSubject, type CommandTarget } from '@switchboard/contracts';
import type { History, PublishedEvent, RecordedCommand, RecordedEvent } from './history';

export type EventListener = (e: RecordedEvent) => void;
export type CommandListener = (c: RecordedCommand) => void;

const timeOf = (m: JsMsg): number => Math.floor(m.info.timestampNanos / 1e6);
const STALL_MS = 3_000;

export class HistoryRecorder {
  readonly events: RecordedEvent[] = [];
  readonly commands: RecordedCommand[] = [];
  readonly published: PublishedEvent[] = [];
  readonly #eventListeners: EventListener[] = [];
  readonly #commandListeners: CommandListener[] = [];
  readonly #lastSeq = new Map<string, number>();
  readonly #subs = new Map<string, ConsumerMessages>();
  readonly #handlers = new Map<string, (m: JsMsg) => void>();
  /** when each stream last delivered (or was followed anew) */
  readonly #lastAt = new Map<string, number>();
  readonly #watchdog: NodeJS.Timeout;
  #checking = false;
  #stopped = false;
  /** ordered consumers re-created by the recorder after missed heartbeats */
  restarts = 0;
  /** messages that did not decode as commands (should be none: the orchestrator builds them) */
  readonly undecodableCommands: Array<{ target: CommandTarget; seq: number; error: string }> = [];

  private constructor(private readonly bus: Bus) {
    this.#watchdog = setInterval(() => void this.#restartStalled(), 1_000);
    this.#watchdog.unref();
  }

  static async start(bus: Bus, opts: { events?: boolean; commands?: boolean } = {}): Promise<HistoryRecorder> {
    const r = new HistoryRecorder(bus);
    if (opts.events !== false) await r.#follow(STREAMS.events, (m) => r.#onEvent(m));
    if (opts.commands !== false) for (const target of COMMAND_TARGETS) await r.#follow(STREAMS.cmd[target], (m) => r.#onCommand(target, m));
    return r;
  }

  onEvent(fn: EventListener): void {
    this.#eventListeners.push(fn);
  }

  onCommand(fn: CommandListener): void {
    this.#commandListeners.push(fn);
  }

  /** The caller reports what it published (and what the stream acked). */
  notePublished(p: PublishedEvent): void {
    this.published.push(p);
  }

  async #follow(stream: string, onMsg: (m: JsMsg) => void): Promise<void> {
    const from = (this.#lastSeq.get(stream) ?? 0) + 1;
    const c = await this.bus.js.consumers.get(stream, from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : { deliver_policy: DeliverPolicy.All });
    // Short pulls: with the default 30 s expiry (heartbeat 15 s) an ordered consumer notices a
    // restarted server only ~30 s later, and the caller — which reacts to what it records — stalls.
    const msgs = await c.consume({
      max_messages: 1024,
      expires: 2_000,
      callback: (m) => {
        const last = this.#lastSeq.get(stream) ?? 0;
        if (m.seq <= last) return;
        this.#lastSeq.set(stream, m.seq);
        this.#lastAt.set(stream, Date.now());
        onMsg(m);
      },
    });
    this.#subs.set(stream, msgs);
    this.#handlers.set(stream, onMsg);
    this.#lastAt.set(stream, Date.now());
  }

  /** Streams with messages past the last one seen and nothing delivered for STALL_MS follow anew. */
  async #restartStalled(): Promise<void> {
    if (this.#checking || this.#stopped) return;
    this.#checking = true;
    try {
      for (const [stream, onMsg] of this.#handlers) {
        if (this.#stopped || Date.now() - (this.#lastAt.get(stream) ?? 0) < STALL_MS) continue;
        const info = await this.bus.jsm.streams.info(stream).catch(() => undefined);
        if (!info || info.state.last_seq <= this.lastSeq(stream)) {
          this.#lastAt.set(stream, Date.now()); // idle, not stalled
          continue;
        }
        await this.#subs.get(stream)?.close().catch(() => undefined);
        await this.#follow(stream, onMsg).then(
          () => this.restarts++,
          () => undefined, // the cluster is not answering yet: tried again on the next check
        );
      }
    } finally {
      this.#checking = false;
    }
  }

  #onEvent(m: JsMsg): void {
    const rec: RecordedEvent = { seq: m.seq, time: timeOf(m), subject: m.subject, subjectSessionId: sessionIdOfSubject(m.subject) };
    try {
      rec.event = decodeEvent(m.data);
    } catch (err) {
      rec.invalid = (err as Error).message.slice(0, 200);
    }
    this.events.push(rec);
    for (const l of this.#eventListeners) l(rec);
  }

  #onCommand(target: CommandTarget, m: JsMsg): void {
    let rec: RecordedCommand;
    try {
      rec = { target, seq: m.seq, time: timeOf(m), receivedAt: Date.now(), command: decodeCommand(m.data) };
    } catch (err) {
      this.undecodableCommands.push({ target, seq: m.seq, error: (err as Error).message });
      return;
    }
    this.commands.push(rec);
    for (const l of this.#commandListeners) l(rec);
  }

  /** Last stream sequence seen per stream (to wait until the recorder caught up). */
  lastSeq(stream: string): number {
    return this.#lastSeq.get(stream) ?? 0;
  }

  /** Resolves once the recorder has seen everything the streams held when called. */
  async caughtUp(budgetMs = 15_000): Promise<void> {
    const streams = [STREAMS.events, ...COMMAND_TARGETS.map((t) => STREAMS.cmd[t])];
    const wanted = new Map<string, number>();
    for (const s of streams) wanted.set(s, (await this.bus.jsm.streams.info(s)).state.last_seq);
    const until = Date.now() + budgetMs;
    while (Date.now() < until) {
      if (streams.every((s) => this.lastSeq(s) >= (wanted.get(s) ?? 0))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`recorder not caught up after ${budgetMs} ms: ${streams.map((s) => `${s} ${this.lastSeq(s)}/${wanted.get(s)}`).join(', ')}`);
  }

  history(finals: History['finals']): History {
    return { events: [...this.events], commands: [...this.commands], published: [...this.published], finals };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#watchdog);
    for (const s of this.#subs.values()) await s.close().catch(() => undefined);
    this.#subs.clear();
  }
}
