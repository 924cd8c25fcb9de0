// Session records in the `sessions` KV bucket, CAS-updated. Key `<partition>.<sessionId>`, so a
// new owner of a partition can list its sessions and re-arm their timers.
import type { KV } from '@nats-io/kv';
import type { Command, CommandTarget } from '@switchboard/contracts';
import type { SessionState } from '../fsm';

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
}

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

export class SessionStore {
  constructor(private readonly kv: KV) {}

  async load(partition: number, sessionId: string): Promise<Stored | undefined> {
    const e = await this.kv.get(sessionKey(partition, sessionId));
    if (!e || e.operation !== 'PUT') return undefined;
    return { record: JSON.parse(dec.decode(e.value)) as SessionRecord, revision: e.revision };
  }

  /** Create (revision 0) or CAS-update; throws CasConflictError when someone else wrote first. */
  async save(record: SessionRecord, revision: number): Promise<number> {
    const key = sessionKey(record.partition, record.fsm.sessionId);
    const data = enc.encode(JSON.stringify(record));
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
      const i = k.indexOf('.');
      out.push({ partition: Number(k.slice(0, i)), sessionId: k.slice(i + 1) });
    }
    return out;
  }

  async remove(partition: number, sessionId: string): Promise<void> {
    await this.kv.delete(sessionKey(partition, sessionId));
  }
}
