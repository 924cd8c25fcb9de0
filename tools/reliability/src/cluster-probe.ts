// Watches a JetStream cluster through a fault: per node, when its JetStream API answers
// ($JS.API.INFO on a connection pinned to that node) and what it says the meta leader and the
// stream leaders are (/jsz). Every change is recorded with its local time, so a run can be cut
// into phases (kill → API answering again → leaders elected → first event applied).
import { Bus } from '@switchboard/bus';
import { createLogger } from '@switchboard/telemetry';
import { commandOrder, type History } from './history';

export interface ProbeNode {
  name: string;
  url: string;
  monitorPort: number;
  readonly running: boolean;
}

export interface ProbeChange {
  at: number;
  node: string;
  /** 'api' ($JS.API.INFO outcome), 'meta' (meta leader), or a stream name (its leader) */
  what: string;
  value: string;
}

interface JszStreams {
  meta_cluster?: { leader?: string };
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ClusterProbe {
  readonly changes: ProbeChange[] = [];
  readonly #last = new Map<string, string>();
  #stopped = false;
  readonly #loops: Promise<void>[] = [];
  readonly #buses: Bus[] = [];

  private constructor(readonly nodes: ProbeNode[], readonly periodMs: number) {}

  static async start(nodes: ProbeNode[], periodMs = 100): Promise<ClusterProbe> {
    const p = new ClusterProbe(nodes, periodMs);
    const log = createLogger({ service: 'cluster-probe', level: 'error' });
    for (const n of nodes) {
      // one server only: no failover, so an answer is that node's answer
      const bus = await Bus.connect({ servers: n.url, service: 'cluster-probe', purpose: n.name, log, partitions: 1 });
      p.#buses.push(bus);
      p.#loops.push(p.#apiLoop(n, bus), p.#jszLoop(n));
    }
    return p;
  }

  #note(node: string, what: string, value: string): void {
    const k = `${node}/${what}`;
    if (this.#last.get(k) === value) return;
    this.#last.set(k, value);
    this.changes.push({ at: Date.now(), node, what, value });
  }

  async #apiLoop(n: ProbeNode, bus: Bus): Promise<void> {
    while (!this.#stopped) {
      if (n.running) {
        const t = Date.now();
        try {
          const r = await bus.nc.request('$JS.API.INFO', undefined, { timeout: 1000 });
          const body = JSON.parse(new TextDecoder().decode(r.data)) as { error?: { description?: string } };
          this.#note(n.name, 'api', body.error ? `error: ${body.error.description}` : 'ok');
        } catch (err) {
          this.#note(n.name, 'api', `fail: ${(err as Error).message.slice(0, 60)}`);
        }
        const spent = Date.now() - t;
        if (spent < this.periodMs) await sleep(this.periodMs - spent);
      } else {
        this.#note(n.name, 'api', 'node down');
        await sleep(this.periodMs);
      }
    }
  }

  async #jszLoop(n: ProbeNode): Promise<void> {
    while (!this.#stopped) {
      if (n.running) {
        try {
          const res = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz?accounts=true&streams=true`, { signal: AbortSignal.timeout(1000) });
          const j = (await res.json()) as JszStreams;
          this.#note(n.name, 'meta', j.meta_cluster?.leader || '(none)');
          for (const a of j.account_details ?? []) for (const s of a.stream_detail ?? []) this.#note(n.name, s.name, s.cluster?.leader || '(none)');
        } catch (err) {
          this.#note(n.name, 'meta', `fail: ${(err as Error).message.slice(0, 60)}`);
        }
      }
      await sleep(this.periodMs);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
    await Promise.all(this.#buses.map((b) => b.nc.close().catch(() => undefined)));
  }

  /** Changes after `t0`, one line each, times relative to t0. */
  timeline(t0: number, filter: (c: ProbeChange) => boolean = () => true): string[] {
    return this.changes.filter((c) => c.at >= t0 - 200 && filter(c)).map((c) => `+${c.at - t0} ms ${c.node} ${c.what} → ${c.value}`);
  }
}

export interface LagFigures {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function lagFigures(xs: number[]): LagFigures {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? NaN };
}

export interface ApplyLag {
  /** event seq, its stream time, the first command it caused (stream time), and the caller's first publish attempt */
  seq: number;
  sessionId: string;
  eventTime: number;
  firstTryAt: number;
  commandTime: number;
}

/**
 * Per event that caused commands: when the caller first tried to publish it, when the stream
 * stored it, and when its first command was stored (the orchestrator had applied it by then).
 */
export function applyLags(h: History): ApplyLag[] {
  const firstCmd = new Map<string, number>();
  for (const c of h.commands) {
    const o = commandOrder(c.command.commandId);
    if (!o) continue;
    const k = `${c.command.sessionId}:${o[0]}`;
    const prev = firstCmd.get(k);
    if (prev === undefined || c.time < prev) firstCmd.set(k, c.time);
  }
  const tried = new Map(h.published.map((p) => [p.eventId, p.firstTryAt ?? p.at]));
  const out: ApplyLag[] = [];
  for (const e of h.events) {
    if (!e.event) continue;
    const ct = firstCmd.get(`${e.event.sessionId}:${e.seq}`);
    if (ct === undefined) continue;
    out.push({ seq: e.seq, sessionId: e.event.sessionId, eventTime: e.time, firstTryAt: tried.get(e.event.eventId) ?? e.time, commandTime: ct });
  }
  return out;
}
