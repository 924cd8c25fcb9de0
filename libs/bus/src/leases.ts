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

interface Lease {
  /** revision at acquisition: the fencing token */
  fence: number;
  /** latest revision written */
  revision: number;
  /** the renewal in flight, if any (the next one needs its revision) */
  renewing?: Promise<void>;
  /** when the last write that succeeded was sent (the server's TTL runs from about then) */
  writtenAt: number;
  /** a renewal that timed out: its value, in case the server did apply it and only the reply was lost */
  unconfirmed?: { value: string; sentAt: number };
}

/** A request that got no answer in time (nats.js TimeoutError): not a refusal. */
function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.message === 'timeout');
}

export class PartitionLeases {
  readonly #o: PartitionLeasesOptions;
  #renewMs: number;
  readonly #owned = new Map<number, Lease>();
  readonly #seen = new Map<string, Seen>();
  /** partitions whose onAcquire is still running */
  readonly #starting = new Map<number, Promise<void>>();
  /** partitions lost whose onRelease is still running (not taken again until it is done) */
  readonly #releasing = new Map<number, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #renewingMember = false;
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
    await this.#o.kv.put(this.#memberKey(), this.#value());
    await this.#tickSafe();
    // Renewal has its own clock and waits for nothing but its own write: a tick that is slow
    // (acquiring, handing back, a partition stopping after a loss) must not let the other
    // leases expire. That wait is what turned one late renewal into ~120 lost leases in the bench.
    this.#renewTimer = setInterval(() => this.#renew(), this.#renewMs);
    this.#timer = setInterval(() => {
      this.#ticking = this.#ticking.then(() => this.#tickSafe());
    }, this.#renewMs);
  }

  /** Renews every held lease that has no renewal in flight, and the membership key. Never blocks. */
  #renew(): void {
    const { kv } = this.#o;
    const value = this.#value();
    if (!this.#renewingMember) {
      this.#renewingMember = true;
      void kv
        .put(this.#memberKey(), value, { timeout: this.#requestTimeoutMs() })
        .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'membership renewal failed'))
        .finally(() => (this.#renewingMember = false));
    }
    const sentAt = Date.now();
    const timeout = this.#requestTimeoutMs();
    for (const [p, lease] of this.#owned) {
      if (lease.renewing) continue;
      const text = dec.decode(value);
      lease.renewing = kv.update(this.#key(p), value, lease.revision, timeout).then(
        (revision) => {
          lease.revision = revision;
          lease.writtenAt = sentAt;
          lease.renewing = undefined;
          lease.unconfirmed = undefined;
        },
        async (err: unknown) => {
          // Unanswered (the request went out on a connection to a node that then died, and
          // nats.js does not fail requests in flight on a reconnect): not a refusal. Send the next
          // renewal on the connection as it is now while the lease can still be alive; waiting for
          // the default 5 s request timeout outlived the 1 s TTL and gave the partitions away.
          if (isTimeout(err) && Date.now() - lease.writtenAt < this.#o.ttlMs) {
            lease.unconfirmed = { value: text, sentAt };
            lease.renewing = undefined;
            return;
          }
          // A refusal after a timed-out renewal may only mean that renewal did land: adopt it if
          // the key holds exactly what we wrote then.
          if (lease.unconfirmed !== undefined && !isTimeout(err)) {
            const adopted = await this.#adoptUnconfirmed(p, lease).catch(() => false);
            if (adopted) {
              lease.renewing = undefined;
              return;
            }
          }
          lease.renewing = undefined;
          // Refused (someone else owns it now: we were too slow) or unknown: stop serving it.
          this.#lost(p, lease, err);
        },
      );
    }
  }

  /** Lease requests give up well within the TTL (an answer later than that is of no use). */
  #requestTimeoutMs(): number {
    return Math.max(200, Math.min(5_000, Math.floor(this.#o.ttlMs / 2)));
  }

  async #adoptUnconfirmed(p: number, lease: Lease): Promise<boolean> {
    const u = lease.unconfirmed;
    const e = await this.#o.kv.get(this.#key(p));
    if (!u || !e || e.operation !== 'PUT' || e.revision <= lease.revision || e.string() !== u.value) return false;
    lease.revision = e.revision;
    lease.writtenAt = u.sentAt;
    lease.unconfirmed = undefined;
    this.#log.info({ partition: p, revision: e.revision }, 'lease renewal that timed out had landed: kept');
    return true;
  }

  #lost(p: number, lease: Lease, err: unknown): void {
    if (this.#owned.get(p) !== lease) return; // already released or re-acquired
    this.#owned.delete(p);
    this.#log.warn({ partition: p, fence: lease.fence, err: (err as Error).message, sinceWrittenMs: Date.now() - lease.writtenAt }, 'lease lost');
    const done = (async () => {
      await this.#starting.get(p);
      await this.#o.onRelease(p, 'lost');
    })()
      .catch((e: unknown) => this.#log.error({ partition: p, err: (e as Error).message }, 'stopping a lost partition failed'))
      .finally(() => this.#releasing.delete(p));
    this.#releasing.set(p, done);
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
    // 1. Renewal runs on its own timer (#renew).
    // 2. Fair share from live members.
    const memberPrefix = `${this.#o.group}.m.`;
    const live = [...this.#seen].filter(([k, s]) => k.startsWith(memberPrefix) && now - s.seenAt < ttlMs).length;
    const members = Math.max(1, live);
    const share = Math.min(this.#o.maxOwned ?? partitions, Math.ceil(partitions / members));
    // 3. Give back extras (highest partitions first) so a joining replica gets work.
    if (this.#owned.size > share) {
      const extras = [...this.#owned.keys()].sort((a, b) => b - a).slice(0, this.#owned.size - share);
      // Side by side: a service may finish work before handing a partition on (the stt-adapter
      // finishes utterances in progress), and one slow partition must not hold the others back.
      await Promise.all(extras.map((p) => this.#release(p, 'rebalance')));
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
      if (this.#owned.has(p) || this.#releasing.has(p)) continue;
      const seen = this.#seen.get(this.#key(p));
      if (seen && now - seen.seenAt < ttlMs) continue; // held by someone alive
      let revision: number;
      try {
        revision = await kv.create(this.#key(p), this.#value());
      } catch {
        continue; // exists: someone else got it first, or it has not expired yet
      }
      this.#owned.set(p, { fence: revision, revision, writtenAt: now });
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
    await this.#o.onRelease(p, reason); // still renewed meanwhile: it is ours until handed back
    if (this.#owned.get(p) !== lease) return; // lost while stopping
    this.#owned.delete(p);
    await lease.renewing; // the delete below needs the latest revision
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
    // The renew clock keeps running until every lease is handed back: a slow stop must not lose them.
    for (const p of [...this.#owned.keys()]) await this.#release(p, 'stop');
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    await Promise.all([...this.#releasing.values()]);
    await this.#o.kv.delete(this.#memberKey()).catch(() => undefined);
    this.#watchStop?.();
  }
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
