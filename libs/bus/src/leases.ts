// Partition leases: replicas of one group split P partitions between them through the
// `leases` KV bucket. A lease is a key `<group>.p<N>` created with `create` (refused if it
// exists) and renewed with `update(key, value, revision)` (refused on a stale revision); the
// bucket's max age expires a dead owner's keys. The revision at acquisition is the fencing
// token: it grows with every write to the bucket, so a newer owner always holds a larger one.
// Members announce themselves with `<group>.m.<replicaId>` so each can compute its fair share
// (ceil(P / members)) and hand back extras when a replica joins.
import type { KV, KvEntry } from '@nats-io/kv';
import type { Logger } from '@switchboard/telemetry';

export interface LeaseCallbacks {
  /** Called when a partition is ours; resolve once the partition is being served. */
  onAcquire(partition: number, fence: number): Promise<void>;
  /** Called before a lease is given up (rebalance/stop) or after it was lost; resolve once the partition is no longer served. */
  onRelease(partition: number, reason: 'rebalance' | 'lost' | 'stop'): Promise<void>;
}

export interface PartitionLeasesOptions extends LeaseCallbacks {
  kv: KV;
  group: string;
  partitions: number;
  replicaId: string;
  /** Must equal the bucket's TTL (max age). */
  ttlMs: number;
  /** Renewal period; default ttl/4. */
  renewMs?: number;
  log: Logger;
  /** Cap on partitions this replica will hold (default: fair share). */
  maxOwned?: number;
}

interface Seen {
  owner: string;
  revision: number;
  seenAt: number;
}

interface LeaseValue {
  owner: string;
  at: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class PartitionLeases {
  readonly #o: PartitionLeasesOptions;
  #renewMs: number;
  /** partition → { fence (acquire revision), revision (latest) } */
  readonly #owned = new Map<number, { fence: number; revision: number }>();
  readonly #seen = new Map<string, Seen>();
  /** partitions whose onAcquire is still running */
  readonly #starting = new Map<number, Promise<void>>();
  /** lost partitions still being stopped (not taken again until they are) */
  readonly #stopping = new Map<number, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #watchStop: (() => void) | undefined;
  #ticking: Promise<void> = Promise.resolve();
  #stopped = false;
  #startedAt = 0;
  readonly #log: Logger;

  constructor(opts: PartitionLeasesOptions) {
    this.#o = opts;
    this.#renewMs = opts.renewMs ?? Math.max(100, Math.floor(opts.ttlMs / 4));
    this.#log = opts.log.child({ leaseGroup: opts.group, replica: opts.replicaId });
  }

  /** Partitions held now with their fencing tokens. */
  owned(): ReadonlyMap<number, number> {
    return new Map([...this.#owned].map(([p, v]) => [p, v.fence]));
  }

  isOwner(partition: number, fence?: number): boolean {
    const o = this.#owned.get(partition);
    return o !== undefined && (fence === undefined || o.fence === fence);
  }

  #key(p: number): string {
    return `${this.#o.group}.p${p}`;
  }

  #memberKey(): string {
    return `${this.#o.group}.m.${this.#o.replicaId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }

  async start(): Promise<void> {
    // The bucket's max age is what really expires a lease: trust it over the configured value.
    const bucketTtl = (await this.#o.kv.status()).ttl;
    if (bucketTtl > 0 && bucketTtl !== this.#o.ttlMs) {
      this.#log.warn({ configuredTtlMs: this.#o.ttlMs, bucketTtlMs: bucketTtl }, 'lease TTL differs from the leases bucket; using the bucket TTL');
      this.#o.ttlMs = bucketTtl;
      this.#renewMs = this.#o.renewMs ?? Math.max(100, Math.floor(bucketTtl / 4));
    }
    this.#startedAt = Date.now();
    const watch = await this.#o.kv.watch({ key: `${this.#o.group}.>` });
    this.#watchStop = () => watch.stop();
    void (async () => {
      for await (const e of watch) this.#onEntry(e);
    })().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'lease watch ended'));
    await this.#tickSafe();
    this.#timer = setInterval(() => {
      this.#ticking = this.#ticking.then(() => this.#tickSafe());
    }, this.#renewMs);
  }

  #onEntry(e: KvEntry): void {
    if (e.operation !== 'PUT') {
      this.#seen.delete(e.key);
      return;
    }
    try {
      const v = JSON.parse(dec.decode(e.value)) as LeaseValue;
      this.#seen.set(e.key, { owner: v.owner, revision: e.revision, seenAt: Date.now() });
    } catch {
      this.#seen.set(e.key, { owner: '?', revision: e.revision, seenAt: Date.now() });
    }
  }

  #value(): Uint8Array {
    return enc.encode(JSON.stringify({ owner: this.#o.replicaId, at: Date.now() } satisfies LeaseValue));
  }

  async #tickSafe(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#tick();
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'lease tick failed');
    }
  }

  async #tick(): Promise<void> {
    const { kv, partitions, ttlMs } = this.#o;
    const now = Date.now();
    await kv.put(this.#memberKey(), this.#value());
    // 1. Renew what we hold; a refused renewal means someone else owns it now (we were too slow).
    // Renewed concurrently: one at a time, a starved event loop could not renew 64 leases within the TTL.
    const value = this.#value();
    await Promise.all(
      [...this.#owned].map(async ([p, lease]) => {
        try {
          lease.revision = await kv.update(this.#key(p), value, lease.revision);
        } catch (err) {
          this.#owned.delete(p);
          this.#log.warn({ partition: p, fence: lease.fence, err: (err as Error).message }, 'lease lost');
          // Stopped in the background: awaited here, a slow drain held up the renewal of every
          // other lease, which then expired too (under a flood of bad events: all lost every few s).
          const starting = this.#starting.get(p);
          this.#stopping.set(
            p,
            (async () => {
              await starting;
              await this.#o.onRelease(p, 'lost');
            })()
              .catch((e: unknown) => this.#log.error({ partition: p, err: (e as Error).message }, 'stopping a lost partition failed'))
              .finally(() => this.#stopping.delete(p)),
          );
        }
      }),
    );
    // 2. Fair share from live members.
    const memberPrefix = `${this.#o.group}.m.`;
    const live = [...this.#seen].filter(([k, s]) => k.startsWith(memberPrefix) && now - s.seenAt < ttlMs).length;
    const members = Math.max(1, live);
    const share = Math.min(this.#o.maxOwned ?? partitions, Math.ceil(partitions / members));
    // 3. Give back extras (highest partitions first) so a joining replica gets work.
    if (this.#owned.size > share) {
      const extras = [...this.#owned.keys()].sort((a, b) => b - a).slice(0, this.#owned.size - share);
      for (const p of extras) await this.#release(p, 'rebalance');
      this.#log.info({ released: extras, owned: this.#owned.size, members, share }, 'leases handed back for rebalance');
    }
    // 4. Take free partitions up to our share. Wait one renew period after start so we see
    //    who else is here before grabbing everything.
    if (now - this.#startedAt < this.#renewMs && live > 1) return;
    if (this.#owned.size >= share) return;
    const acquired: number[] = [];
    const offset = hash(this.#o.replicaId) % partitions;
    for (let i = 0; i < partitions && this.#owned.size < share; i++) {
      const p = (offset + i) % partitions;
      if (this.#owned.has(p) || this.#stopping.has(p)) continue;
      const seen = this.#seen.get(this.#key(p));
      if (seen && now - seen.seenAt < ttlMs) continue; // held by someone alive
      let revision: number;
      try {
        revision = await kv.create(this.#key(p), this.#value());
      } catch {
        continue; // exists: someone else got it first, or it has not expired yet
      }
      this.#owned.set(p, { fence: revision, revision });
      this.#log.debug({ partition: p, fence: revision }, 'lease acquired');
      acquired.push(p);
      // Start serving in the background: a slow start must not delay the next renewals.
      const fence = revision;
      this.#starting.set(
        p,
        this.#o.onAcquire(p, fence).catch(async (err: unknown) => {
          this.#log.error({ partition: p, err: (err as Error).message }, 'serving acquired partition failed; releasing');
          this.#starting.delete(p);
          if (this.#owned.get(p)?.fence === fence) await this.#release(p, 'rebalance');
        }).finally(() => this.#starting.delete(p)),
      );
    }
    if (acquired.length > 0) this.#log.info({ acquired, owned: this.#owned.size, members, share }, 'leases acquired');
  }

  async #release(p: number, reason: 'rebalance' | 'stop'): Promise<void> {
    const lease = this.#owned.get(p);
    if (!lease) return;
    await this.#starting.get(p); // never stop a partition halfway through starting it
    await this.#o.onRelease(p, reason);
    this.#owned.delete(p);
    try {
      await this.#o.kv.delete(this.#key(p), { previousSeq: lease.revision });
    } catch {
      // already gone or taken over: nothing to give back
    }
    this.#log.debug({ partition: p, reason }, 'lease released');
  }

  /** Hand every partition back (graceful shutdown) so others take over at once. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#ticking;
    for (const p of [...this.#owned.keys()]) await this.#release(p, 'stop');
    await Promise.all([...this.#stopping.values()]);
    await this.#o.kv.delete(this.#memberKey()).catch(() => undefined);
    this.#watchStop?.();
  }
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
