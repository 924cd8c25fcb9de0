// Real service replicas as child processes (node --import tsx <main.ts>), and the faults done to
// them: kill -9 of a random replica (then a fresh one in its place), SIGSTOP/SIGCONT (a hung
// replica with its sockets open). A replica that exits without being killed by us is a crash,
// kept with its last lines.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnNode, type ChildHandle } from '@switchboard/testkit';
import type { Rng } from './prng';

export interface Replica {
  id: string;
  child: ChildHandle;
  startedAt: number;
  /** HTTP port from the service's ready line */
  port?: number;
  paused: boolean;
}

export interface Crash {
  id: string;
  code: number | null;
  lastLines: string[];
}

export interface ReplicaSetOptions {
  /** service name, as in its ready line ("<name> ready") */
  service: string;
  entry: string;
  env: (replicaId: string) => Record<string, string>;
  readyBudgetMs?: number;
  /** every replica's output is written to `<logDir>/<service>-<id>.log` when it exits (killed ones too) */
  logDir?: string;
}

export class ReplicaSet {
  readonly replicas = new Map<string, Replica>();
  readonly crashes: Crash[] = [];
  readonly #killedByUs = new Set<string>();
  #generation = 0;

  constructor(private readonly o: ReplicaSetOptions) {}

  get service(): string {
    return this.o.service;
  }

  async start(count: number, prefix = this.o.service.split('-')[0] ?? 'r'): Promise<void> {
    const ids = Array.from({ length: count }, (_, i) => `${prefix}-${String.fromCharCode(97 + i)}`);
    for (const id of ids) this.#spawn(id);
    await Promise.all(ids.map((id) => this.waitReady(id)));
  }

  #spawn(id: string): Replica {
    const child = spawnNode(this.o.entry, { env: { ...this.o.env(id), REPLICA_ID: id } });
    const r: Replica = { id, child, startedAt: Date.now(), paused: false };
    this.replicas.set(id, r);
    // learn the HTTP port whenever the ready line comes (whether or not someone waits for it)
    child.waitForLine(new RegExp(`${this.o.service} ready`), this.o.readyBudgetMs ?? 30_000).then(
      (line) => {
        try {
          r.port = (JSON.parse(line) as { port?: number }).port;
        } catch {
          // not JSON: no port
        }
      },
      () => undefined,
    );
    void child.exited.then((code) => {
      if (this.o.logDir) writeFileSync(path.join(this.o.logDir, `${this.o.service}-${id}.log`), child.lines.join('\n') + '\n');
      if (this.#killedByUs.has(id)) return;
      this.crashes.push({ id, code, lastLines: child.lines.slice(-30) });
      if (this.replicas.get(id) === r) this.replicas.delete(id);
    });
    return r;
  }

  async waitReady(id: string): Promise<Replica> {
    const r = this.replicas.get(id);
    if (!r) throw new Error(`no replica ${id}`);
    const line = await r.child.waitForLine(new RegExp(`${this.o.service} ready`), this.o.readyBudgetMs ?? 30_000);
    try {
      r.port = (JSON.parse(line) as { port?: number }).port;
    } catch {
      // not JSON: no port
    }
    return r;
  }

  /** Any replica's HTTP base URL (the read APIs answer for every session). */
  url(): string {
    for (const r of this.replicas.values()) if (r.port && !r.paused) return `http://127.0.0.1:${r.port}`;
    throw new Error(`no ready ${this.o.service} replica with an HTTP port`);
  }

  /** kill -9 a random running replica; with `restart`, a fresh replica takes its place (new id). */
  async killRandom(rng: Rng, opts: { restart?: boolean; waitReady?: boolean } = {}): Promise<{ victim: string; killedAt: number; replacement?: string }> {
    const ids = [...this.replicas.keys()].sort();
    const victim = rng.pick(ids);
    const r = this.replicas.get(victim)!;
    this.#killedByUs.add(victim);
    const killedAt = Date.now();
    await r.child.kill('SIGKILL');
    this.replicas.delete(victim);
    if (opts.restart === false) return { victim, killedAt };
    const replacement = `${victim.replace(/\.\d+$/, '')}.${++this.#generation}`;
    this.#spawn(replacement);
    if (opts.waitReady !== false) await this.waitReady(replacement);
    return { victim, killedAt, replacement };
  }

  /** SIGSTOP a random replica for `ms`, then SIGCONT: a network/GC pause longer than the lease TTL. */
  async pauseRandom(rng: Rng, ms: number): Promise<{ victim: string; pausedAt: number; resumedAt: number }> {
    const ids = [...this.replicas.keys()].sort();
    const victim = rng.pick(ids);
    const r = this.replicas.get(victim)!;
    const pausedAt = Date.now();
    process.kill(r.child.pid, 'SIGSTOP');
    r.paused = true;
    try {
      await new Promise((res) => setTimeout(res, ms));
    } finally {
      process.kill(r.child.pid, 'SIGCONT');
      r.paused = false;
    }
    return { victim, pausedAt, resumedAt: Date.now() };
  }

  /** Every line of every replica still tracked (JSON log lines parsed; others skipped). */
  logLines(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const r of this.replicas.values()) {
      for (const l of r.child.lines) {
        if (!l.startsWith('{')) continue;
        try {
          out.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          // partial line
        }
      }
    }
    return out;
  }

  async stopAll(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const all = [...this.replicas.values()];
    for (const r of all) this.#killedByUs.add(r.id);
    await Promise.all(
      all.map(async (r) => {
        if (r.paused) process.kill(r.child.pid, 'SIGCONT');
        await r.child.kill(signal);
      }),
    );
    this.replicas.clear();
  }
}
