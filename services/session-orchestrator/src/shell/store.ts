// Session records in the `sessions` KV bucket, CAS-updated. Key `<partition>.<sessionId>`, so a
// new owner of a partition can list its sessions and re-arm their timers.
//
// The record is rewritten on every decision, so it carries only what deciding needs plus the
// newest part of the session's history: transitions (timeline) and completed turns written to
// the history key `h.<partition>.<sessionId>` are left out of it. The history key is written now
// and then, off the decision path (`saveHistory`); `load` joins both, so readers (latency API,
// session view, a new owner) see the whole bounded history. At the end of a bench run this cut the
// value written per decision from 6.6 KiB to ~2 KiB.
import type { KV } from '@nats-io/kv';
import type { Command, CommandTarget } from '@switchboard/contracts';
import { STATE_LIMITS, type SessionState } from '../fsm';

export interface OutboxEntry {
  target: CommandTarget;
  command: Command;
}

/** What is stored per session: the FSM state plus the shell's exactly-once bookkeeping. */
export interface SessionRecord {
  fsm: SessionState;
  /** lease fencing token of the writer; a writer with a smaller token is stale */
  fence: number;
  owner: string;
  partition: number;
  /** commands of the last applied event, published after the write; re-published on takeover (dedup makes that a no-op) */
  outbox: OutboxEntry[];
}

export interface Stored {
  record: SessionRecord;
  revision: number;
  /** what the history key holds (confirmed written): the hot record leaves those entries out */
  hist?: HistoryMark;
}

/** The history key holds the timeline through event `seq` and the completed turns through `lastTurnId`. */
export interface HistoryMark {
  seq: number;
  lastTurnId?: string;
}

/** the hot record as stored: the FSM state's history arrays hold only what the history key lacks */
interface StoredRecord extends SessionRecord {
  hist?: HistoryMark;
}

interface HistoryRecord {
  seq: number;
  timeline: SessionState['timeline'];
  turnsCompleted: SessionState['turnsCompleted'];
}

const HISTORY_PREFIX = 'h.';
/** flush the history once the hot record carries this many transitions or completed turns of its own */
const HISTORY_FLUSH = { transitions: 12, turns: 3 } as const;

export class StaleOwnerError extends Error {
  readonly code = 'STALE_OWNER';
  readonly retryable = true; // another replica owns the partition now; the message goes back to it
}

export class CasConflictError extends Error {
  readonly code = 'CAS_CONFLICT';
  readonly retryable = true;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function sessionKey(partition: number, sessionId: string): string {
  return `${partition}.${sessionId}`;
}

export function historyKey(partition: number, sessionId: string): string {
  return `${HISTORY_PREFIX}${partition}.${sessionId}`;
}

/** Transitions after `mark` (the timeline is in event order). */
function timelineTail(fsm: SessionState, mark: HistoryMark | undefined): SessionState['timeline'] {
  if (!mark) return fsm.timeline;
  let i = fsm.timeline.length;
  while (i > 0 && fsm.timeline[i - 1]!.eventSeq > mark.seq) i--;
  return i === 0 ? fsm.timeline : fsm.timeline.slice(i);
}

/** Completed turns after `mark.lastTurnId` (all of them if it is no longer in the bounded list). */
function turnsTail(fsm: SessionState, mark: HistoryMark | undefined): SessionState['turnsCompleted'] {
  if (!mark?.lastTurnId) return fsm.turnsCompleted;
  for (let i = fsm.turnsCompleted.length - 1; i >= 0; i--) if (fsm.turnsCompleted[i]!.turnId === mark.lastTurnId) return fsm.turnsCompleted.slice(i + 1);
  return fsm.turnsCompleted;
}

/** True when the hot record carries enough history of its own that it is worth moving out. */
export function historyDue(stored: Stored): boolean {
  const fsm = stored.record.fsm;
  return timelineTail(fsm, stored.hist).length >= HISTORY_FLUSH.transitions || turnsTail(fsm, stored.hist).length >= HISTORY_FLUSH.turns;
}

export class SessionStore {
  constructor(private readonly kv: KV) {}

  async load(partition: number, sessionId: string): Promise<Stored | undefined> {
    const e = await this.kv.get(sessionKey(partition, sessionId));
    if (!e || e.operation !== 'PUT') return undefined;
    const { hist, ...record } = JSON.parse(dec.decode(e.value)) as StoredRecord;
    if (!hist) return { record, revision: e.revision };
    const h = await this.kv.get(historyKey(partition, sessionId));
    if (h && h.operation === 'PUT') {
      // The history key may be newer than the mark (written, then the hot write did not happen yet).
      const older = JSON.parse(dec.decode(h.value)) as HistoryRecord;
      const fsm = record.fsm;
      const known = new Set(older.turnsCompleted.map((t) => t.turnId));
      fsm.timeline = [...older.timeline, ...fsm.timeline.filter((t) => t.eventSeq > older.seq)].slice(-STATE_LIMITS.timeline);
      fsm.turnsCompleted = [...older.turnsCompleted, ...fsm.turnsCompleted.filter((t) => !known.has(t.turnId))].slice(-STATE_LIMITS.turnsCompleted);
      return { record, revision: e.revision, hist: { seq: older.seq, ...(older.turnsCompleted.length ? { lastTurnId: older.turnsCompleted[older.turnsCompleted.length - 1]!.turnId } : {}) } };
    }
    return { record, revision: e.revision }; // history lost (deleted): what the hot record has
  }

  /**
   * Writes the session's whole (bounded) history to its history key and returns the mark to pass
   * to later `save`s. Not fenced: it only ever holds what some owner decided, and the hot record's
   * CAS stays the authority on state.
   */
  async saveHistory(record: SessionRecord): Promise<HistoryMark> {
    const { fsm } = record;
    const h: HistoryRecord = { seq: fsm.lastSeq, timeline: fsm.timeline, turnsCompleted: fsm.turnsCompleted };
    const last = fsm.turnsCompleted[fsm.turnsCompleted.length - 1];
    const mark: HistoryMark = { seq: fsm.lastSeq, ...(last ? { lastTurnId: last.turnId } : {}) };
    await this.kv.put(historyKey(record.partition, fsm.sessionId), enc.encode(JSON.stringify(h)));
    return mark;
  }

  /** Create (revision 0) or CAS-update; throws CasConflictError when someone else wrote first. */
  async save(record: SessionRecord, revision: number, hist?: HistoryMark): Promise<number> {
    const key = sessionKey(record.partition, record.fsm.sessionId);
    const stored: StoredRecord = hist
      ? { ...record, fsm: { ...record.fsm, timeline: timelineTail(record.fsm, hist), turnsCompleted: turnsTail(record.fsm, hist) }, hist }
      : record;
    const data = enc.encode(JSON.stringify(stored));
    try {
      return revision === 0 ? await this.kv.create(key, data) : await this.kv.update(key, data, revision);
    } catch (err) {
      const msg = (err as Error).message;
      if (/wrong last sequence|key exists/i.test(msg)) throw new CasConflictError(`session ${record.fsm.sessionId}: ${msg}`);
      throw err;
    }
  }

  async sessionsOfPartition(partition: number): Promise<string[]> {
    const out: string[] = [];
    const keys = await this.kv.keys(`${partition}.*`);
    for await (const k of keys) out.push(k.slice(k.indexOf('.') + 1));
    return out;
  }

  async allKeys(): Promise<Array<{ partition: number; sessionId: string }>> {
    const out: Array<{ partition: number; sessionId: string }> = [];
    const keys = await this.kv.keys();
    for await (const k of keys) {
      if (k.startsWith(HISTORY_PREFIX)) continue;
      const i = k.indexOf('.');
      out.push({ partition: Number(k.slice(0, i)), sessionId: k.slice(i + 1) });
    }
    return out;
  }

  async remove(partition: number, sessionId: string): Promise<void> {
    await this.kv.delete(sessionKey(partition, sessionId));
    await this.kv.delete(historyKey(partition, sessionId));
  }
}
