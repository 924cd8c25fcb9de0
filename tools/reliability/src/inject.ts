// Raw bad events, published straight onto the event subjects the way a buggy or hostile
// producer could: malformed JSON, oversized payloads, invalid UTF-8, events for sessions that do
// not exist, events whose body names another session than their subject, duplicates of real
// events, and events out of order. Each injected message says what must become of it: a DLQ
// reason, "deduped" (the stream's Nats-Msg-Id dedup drops it) or "applied".
import type { Bus } from '@switchboard/bus';
import { encodeEvent, makeEvent, subjects, type Event } from '@switchboard/contracts';
import { createRng } from './prng';
import { seededSessionId } from './script';

export type BadKind = 'malformed_json' | 'oversized' | 'bad_utf8' | 'unknown_session' | 'wrong_session' | 'duplicate' | 'out_of_order';

export interface Injected {
  kind: BadKind;
  subject: string;
  msgId: string;
  /** stream sequence of the publish ack */
  seq: number;
  /** the stream's dedup answered "duplicate" */
  duplicate: boolean;
  /** DLQ reason, or 'deduped' / 'applied' */
  expect: string;
}

export interface InjectOptions {
  count: number;
  seed: number;
  /** live sessions whose subjects carry the garbage (they must not be disturbed) */
  goodSessions: readonly string[];
  /** real events of good sessions, to duplicate (same Nats-Msg-Id) */
  realEvents: readonly Event[];
  concurrency?: number;
  weights?: Partial<Record<BadKind, number>>;
}

const DEFAULT_WEIGHTS: Record<BadKind, number> = {
  malformed_json: 0.2,
  oversized: 0.03,
  bad_utf8: 0.15,
  unknown_session: 0.2,
  wrong_session: 0.12,
  duplicate: 0.15,
  out_of_order: 0.15,
};

export interface BadMessage {
  kind: BadKind;
  subject: string;
  data: Uint8Array;
  msgId: string;
  expect: string;
}

const enc = new TextEncoder();

/** The bad messages to publish, as jobs (each published in order), from the seed alone. */
export function planBadEvents(o: Omit<InjectOptions, 'concurrency'>, partitions: number): BadMessage[][] {
  if (o.goodSessions.length < 2) throw new Error('injectBadEvents needs at least two good sessions');
  // Its own stream: drawn from the scripts' seed itself, the ghost ids repeated the scripts' draws
  // and "unknown" sessions could be live calls (seed 777: bad:777:232 was a real turn of s36).
  const rng = createRng(o.seed ^ 0x1badba5e);
  const P = partitions;
  const live = new Set(o.goodSessions);
  const ghostId = (): string => {
    for (;;) {
      const id = seededSessionId(rng);
      if (!live.has(id)) return id;
    }
  };
  const weights = { ...DEFAULT_WEIGHTS, ...o.weights };
  const kinds = Object.keys(weights) as BadKind[];
  const total = kinds.reduce((a, k) => a + weights[k], 0);
  const pickKind = (): BadKind => {
    let r = rng.next() * total;
    for (const k of kinds) if ((r -= weights[k]) < 0) return k;
    return kinds[kinds.length - 1]!;
  };
  const good = () => rng.pick(o.goodSessions);
  const ev = (sid: string, type: 'STT_FINAL' | 'CALL_STARTED', id: string): Event =>
    type === 'STT_FINAL'
      ? makeEvent('STT_FINAL', { sessionId: sid, source: 'injector', eventId: id }, { text: 'injected words', isFinal: true })
      : makeEvent('CALL_STARTED', { sessionId: sid, source: 'injector', eventId: id }, {});
  const duplicable = o.realEvents.filter((e) => e.source === 'synthetic-caller');

  // Jobs: each is published in order (an out-of-order group must arrive in its bad order).
  const jobs: BadMessage[][] = [];
  let n = 0;
  while (n < o.count) {
    const kind = pickKind();
    const id = `bad:${o.seed}:${n}`;
    const a = good();
    if (kind === 'malformed_json') {
      const text = JSON.stringify(ev(a, 'STT_FINAL', id));
      jobs.push([{ kind, subject: subjects.event(a, 'STT_FINAL', P), data: enc.encode(text.slice(0, rng.int(1, text.length - 1))), msgId: id, expect: 'invalid' }]);
      n++;
    } else if (kind === 'oversized') {
      const e = ev(a, 'STT_FINAL', id);
      e.sttFinal!.text = 'x'.repeat(70_000);
      jobs.push([{ kind, subject: subjects.event(a, 'STT_FINAL', P), data: encodeEvent(e), msgId: id, expect: 'too_large' }]);
      n++;
    } else if (kind === 'bad_utf8') {
      const bytes = encodeEvent(ev(a, 'STT_FINAL', id));
      const at = Buffer.from(bytes).indexOf('injected');
      const bad = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff]), bytes.subarray(at)]);
      jobs.push([{ kind, subject: subjects.event(a, 'STT_FINAL', P), data: bad, msgId: id, expect: 'invalid' }]);
      n++;
    } else if (kind === 'unknown_session') {
      const ghost = ghostId();
      jobs.push([{ kind, subject: subjects.event(ghost, 'STT_FINAL', P), data: encodeEvent(ev(ghost, 'STT_FINAL', id)), msgId: id, expect: 'unknown_session' }]);
      n++;
    } else if (kind === 'wrong_session') {
      let b = good();
      while (b === a) b = good();
      // Subject says session a, body says session b: it must reach neither.
      jobs.push([{ kind, subject: subjects.event(a, 'STT_FINAL', P), data: encodeEvent(ev(b, 'STT_FINAL', id)), msgId: id, expect: 'wrong_partition' }]);
      n++;
    } else if (kind === 'duplicate') {
      if (duplicable.length === 0) continue;
      const e = rng.pick(duplicable);
      jobs.push([{ kind, subject: subjects.event(e.sessionId, e.eventType, P), data: encodeEvent(e), msgId: e.eventId, expect: 'deduped' }]);
      n++;
    } else {
      // A session's events out of order: a final before the call started, then the start, then a
      // second start (a call cannot start twice).
      const v = ghostId();
      jobs.push([
        { kind, subject: subjects.event(v, 'STT_FINAL', P), data: encodeEvent(ev(v, 'STT_FINAL', `${id}:a`)), msgId: `${id}:a`, expect: 'unknown_session' },
        { kind, subject: subjects.event(v, 'CALL_STARTED', P), data: encodeEvent(ev(v, 'CALL_STARTED', `${id}:b`)), msgId: `${id}:b`, expect: 'applied' },
        { kind, subject: subjects.event(v, 'CALL_STARTED', P), data: encodeEvent(ev(v, 'CALL_STARTED', `${id}:c`)), msgId: `${id}:c`, expect: 'invalid_transition' },
      ]);
      n += 3;
    }
  }
  return jobs;
}

export async function injectBadEvents(bus: Bus, o: InjectOptions): Promise<Injected[]> {
  const jobs = planBadEvents(o, bus.partitions);
  const out: Injected[] = [];
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: o.concurrency ?? 64 }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        for (const m of job) {
          const ack = await publishRetrying(bus, m);
          out.push({ kind: m.kind, subject: m.subject, msgId: m.msgId, seq: ack.seq, duplicate: ack.duplicate, expect: m.expect });
        }
      }
    }),
  );
  return out;
}

async function publishRetrying(bus: Bus, m: BadMessage): Promise<{ seq: number; duplicate: boolean }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const ack = await bus.js.publish(m.subject, m.data, { msgID: m.msgId });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      if (attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}
