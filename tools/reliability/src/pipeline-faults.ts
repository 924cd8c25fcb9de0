// Faults for pipeline runs: kill -9 of a random replica of a random service (a fresh replica
// takes its place), and slow consumers — a random worker replica SIGSTOPped for a while, below
// and above ack_wait and the lease TTL, then resumed. A service whose replacement is still
// starting is not hit again until it is ready: two replicas of a service down at once would
// measure an outage, not a hand-over.
import { leaseOwners } from './observe';
import type { PipelineScenario } from './pipeline';
import type { Rng } from './prng';
import { LEASE_GROUPS, awaitTakeover, partitionsOf, type KillRecord } from './recovery';
import type { ReplicaSet } from './replicas';

export interface FaultPlan {
  count: number;
  /** wait between two faults, ms */
  gapMs: [min: number, max: number];
  /** stop early (the calls are done) */
  stopped?: () => boolean;
  onProgress?: (done: number, by: Record<string, number>, what: string) => void;
}

export class PipelineFaults {
  readonly killsBy: Record<string, number> = {};
  readonly pausesBy: Record<string, number> = {};
  /** every kill, with the victim's partitions and the takeover time for leased services */
  readonly killLog: KillRecord[] = [];
  readonly #takeovers: Promise<void>[] = [];
  /** every SIGSTOP done, with its replica and wall-clock window (to line up with logs and frames) */
  readonly pauseLog: Array<{ service: string; victim: string; pausedAt: number; resumedAt: number }> = [];
  readonly #starting = new Map<string, Promise<unknown>>();

  constructor(private readonly s: PipelineScenario) {}

  get kills(): number {
    return Object.values(this.killsBy).reduce((a, b) => a + b, 0);
  }

  get pauses(): number {
    return Object.values(this.pausesBy).reduce((a, b) => a + b, 0);
  }

  #available(sets: readonly ReplicaSet[]): ReplicaSet[] {
    return sets.filter((set) => !this.#starting.has(set.service) && set.replicas.size > 1);
  }

  // `k` counts faults done; it must not depend on onProgress (without one, the pipeline test's
  // loops once never ended: kills went on past the run's budget, for half an hour).
  async killRandomReplicas(rng: Rng, plan: FaultPlan): Promise<void> {
    for (let k = 0; k < plan.count && !plan.stopped?.(); ) {
      await sleep(rng.int(...plan.gapMs));
      const sets = this.#available(this.s.sets());
      if (sets.length === 0) continue;
      const set = rng.pick(sets);
      const group = LEASE_GROUPS[set.service];
      const owners = group ? await leaseOwners(this.s.bus, group, this.s.partitions).catch(() => undefined) : undefined;
      const { victim, killedAt, replacement } = await withBudget(set.killRandom(rng, { restart: true, waitReady: false }), 20_000, `kill -9 of a ${set.service} replica`);
      this.killsBy[set.service] = (this.killsBy[set.service] ?? 0) + 1;
      const rec: KillRecord = { service: set.service, victim, killedAt, ...(replacement ? { replacement } : {}) };
      this.killLog.push(rec);
      if (group && owners) {
        rec.partitions = partitionsOf(owners, victim);
        // watched beside the next faults: a takeover can outlast the gap between two kills
        this.#takeovers.push(
          awaitTakeover(this.s.bus, group, this.s.partitions, victim, killedAt).then((ms) => {
            if (ms !== undefined) rec.takeoverMs = ms;
          }),
        );
      }
      if (replacement) {
        this.#starting.set(
          set.service,
          set.waitReady(replacement).catch(() => undefined).finally(() => this.#starting.delete(set.service)),
        );
      }
      k++;
      plan.onProgress?.(k, this.killsBy, `kill -9 ${set.service}`);
    }
  }

  /** Resolves once every takeover watch has its figure (or ran out of budget). */
  async takeoversSettled(): Promise<void> {
    await Promise.all(this.#takeovers);
  }

  async pauseRandomWorkers(rng: Rng, plan: FaultPlan & { pauseMs: [min: number, max: number] }): Promise<void> {
    for (let k = 0; k < plan.count && !plan.stopped?.(); ) {
      await sleep(rng.int(...plan.gapMs));
      const sets = this.#available([...this.s.workers.values()]);
      if (sets.length === 0) continue;
      const set = rng.pick(sets);
      const ms = rng.int(...plan.pauseMs);
      const p = await withBudget(set.pauseRandom(rng, ms), ms + 10_000, `SIGSTOP of a ${set.service} replica`).catch(() => undefined);
      if (p) this.pauseLog.push({ service: set.service, ...p });
      this.pausesBy[set.service] = (this.pausesBy[set.service] ?? 0) + 1;
      k++;
      plan.onProgress?.(k, this.pausesBy, `SIGSTOP ${set.service} ${ms} ms`);
    }
  }
}

/** A fault step that does not finish in time fails the run instead of hanging it. */
async function withBudget<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
