// Reading the system's own view after (or during) a run: final session states through the
// orchestrator's HTTP API, partition lease owners, and the dead-letter stream.
import { DeliverPolicy } from '@nats-io/jetstream';
import { HEADERS, type Bus } from '@switchboard/bus';
import { BUCKETS, STREAMS } from '@switchboard/contracts';
import type { FinalState } from './history';

async function getFinal(base: string, sessionId: string): Promise<FinalState | null> {
  const res = await fetch(`${base}/sessions/${sessionId}`, { signal: AbortSignal.timeout(5_000) });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET /sessions/${sessionId}: ${res.status}`);
  const v = (await res.json()) as { state: string; lastSeq: number; counters?: { turns?: number } };
  return { state: v.state, lastSeq: v.lastSeq, turns: v.counters?.turns ?? 0 };
}

/** GET /sessions/:id for each session (a few at a time); `base` may change between calls (replicas die). */
export async function fetchFinals(base: string | (() => string), sessionIds: readonly string[], concurrency = 16): Promise<Record<string, FinalState | null>> {
  const out: Record<string, FinalState | null> = {};
  const queue = [...sessionIds];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let sid = queue.shift(); sid !== undefined; sid = queue.shift()) {
        for (let attempt = 1; ; attempt++) {
          try {
            out[sid] = await getFinal(typeof base === 'string' ? base : base(), sid);
            break;
          } catch (err) {
            if (attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 200 * attempt));
          }
        }
      }
    }),
  );
  return out;
}

/**
 * Polls until every session is in one of its wanted states (or the budget runs out) and returns
 * the last finals read: the checker, not this function, decides what is stuck.
 */
export async function settledFinals(
  base: string | (() => string),
  wanted: ReadonlyMap<string, readonly string[]>,
  budgetMs = 20_000,
): Promise<Record<string, FinalState | null>> {
  const until = Date.now() + budgetMs;
  let finals: Record<string, FinalState | null> = {};
  let pending = [...wanted.keys()];
  while (true) {
    Object.assign(finals, await fetchFinals(base, pending));
    pending = pending.filter((sid) => !wanted.get(sid)!.includes(finals[sid]?.state ?? '?'));
    if (pending.length === 0 || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  finals = Object.fromEntries([...wanted.keys()].map((sid) => [sid, finals[sid] ?? null]));
  return finals;
}

/** partition → current lease owner (undefined when free/expired). */
export async function leaseOwners(bus: Bus, group: string, partitions: number): Promise<Map<number, string | undefined>> {
  const kv = await bus.kv(BUCKETS.leases);
  const out = new Map<number, string | undefined>();
  await Promise.all(
    Array.from({ length: partitions }, async (_, p) => {
      const e = await kv.get(`${group}.p${p}`).catch(() => null);
      let owner: string | undefined;
      if (e && e.operation === 'PUT') {
        try {
          owner = (JSON.parse(new TextDecoder().decode(e.value)) as { owner?: string }).owner;
        } catch {
          owner = '?';
        }
      }
      out.set(p, owner);
    }),
  );
  return out;
}

export interface DeadLetter {
  dlqSeq: number;
  reason: string;
  service: string;
  /** the original message's stream and sequence */
  stream: string;
  seq: number;
  subject: string;
  detail: string;
}

/** Every message in VOICE_DLQ (read with an ordered consumer up to the stream's last sequence). */
export async function readDlq(bus: Bus, budgetMs = 30_000): Promise<DeadLetter[]> {
  const info = await bus.jsm.streams.info(STREAMS.dlq);
  const last = info.state.last_seq;
  const out: DeadLetter[] = [];
  if (info.state.messages === 0) return out;
  const c = await bus.js.consumers.get(STREAMS.dlq, { deliver_policy: DeliverPolicy.All });
  const until = Date.now() + budgetMs;
  const iter = await c.consume({ max_messages: 1024 });
  const timer = setTimeout(() => void iter.close(), budgetMs);
  try {
    for await (const m of iter) {
      const h = m.headers;
      out.push({
        dlqSeq: m.seq,
        reason: h?.get(HEADERS.dlqReason) ?? '',
        service: h?.get(HEADERS.service) ?? '',
        stream: h?.get(HEADERS.dlqStream) ?? '',
        seq: Number(h?.get(HEADERS.dlqSeq) ?? 0),
        subject: decodeURIComponent(h?.get(HEADERS.dlqSubject) ?? ''),
        detail: decodeURIComponent(h?.get(HEADERS.dlqDetail) ?? ''),
      });
      if (m.seq >= last || Date.now() > until) break;
    }
  } finally {
    clearTimeout(timer);
    await iter.close().catch(() => undefined);
  }
  return out;
}

export function countBy<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}
