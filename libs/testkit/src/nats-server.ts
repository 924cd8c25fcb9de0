// Real nats-server processes for tests (never a mock): one server or a loopback cluster, with
// the kill/restart/pause controls fault tests need.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { killQuietly, onExit, waitProcState } from './cleanup';
import { canConnect, freePort, sleep, tempDir } from './fs-net';

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';
const START_BUDGET_MS = 10_000;
const STOP_BUDGET_MS = 10_000;
const LOG_LIMIT = 2_000_000;

export interface NatsServerOptions {
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Client port; default a free port. */
  port?: number;
  /** JetStream store dir; default a temp dir removed at exit. */
  storeDir?: string;
  /** Extra command-line arguments (they override the config file). */
  args?: string[];
  configFile?: string;
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  readonly name: string;
  /** The current process id (changes on restart). */
  readonly pid: number;
  readonly running: boolean;
  /** Graceful stop (SIGTERM; SIGKILL after 10 s). Idempotent. */
  stop(): Promise<void>;
  /** Send a signal (default SIGKILL) and wait for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port and store (stops gracefully first if still running). */
  restart(): Promise<void>;
  /** SIGSTOP: the server freezes with its sockets open (a hung node, not a dead one). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Everything the server logged, across restarts. */
  logs(): string;
}

interface ServerSpec {
  name: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  jetstream: boolean;
  argv: string[];
}

/** What "ready" means differs for a single server and a cluster member. */
type ReadyCheck = (h: NatsServerHandle) => Promise<string | true>;

async function httpJson(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // non-JSON error body; keep the text
  }
  return { status: res.status, body };
}

/** Single-server readiness: client port accepts, /healthz ok, JetStream enabled if asked. */
async function singleReady(h: NatsServerHandle, jetstream: boolean): Promise<string | true> {
  if (!(await canConnect(h.port))) return 'client port not accepting';
  const health = await httpJson(h.monitorPort, '/healthz');
  if (health.status !== 200) return `healthz ${health.status} ${JSON.stringify(health.body)}`;
  if (jetstream) {
    const jsz = (await httpJson(h.monitorPort, '/jsz')).body as { disabled?: boolean; config?: unknown };
    if (jsz.disabled || !jsz.config) return 'JetStream not enabled';
  }
  return true;
}

class NatsServer implements NatsServerHandle {
  private child: ChildProcess | undefined;
  private exitedP: Promise<void> = Promise.resolve();
  private paused = false;
  private logText = '';
  private unregister: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly spec: ServerSpec,
    private readonly readyCheck: ReadyCheck,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.spec.port}`;
  }
  get port(): number {
    return this.spec.port;
  }
  get monitorPort(): number {
    return this.spec.monitorPort;
  }
  get storeDir(): string {
    return this.spec.storeDir;
  }
  get name(): string {
    return this.spec.name;
  }
  get pid(): number {
    return this.child?.pid ?? -1;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    return this.logText;
  }

  private appendLog(chunk: Buffer): void {
    this.logText += chunk.toString('utf8');
    if (this.logText.length > LOG_LIMIT) this.logText = this.logText.slice(-LOG_LIMIT);
  }

  /** Spawns the process; does not wait for readiness. */
  spawn(): void {
    const child = spawn(NATS_SERVER_BIN, this.spec.argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.paused = false;
    this.stopping = undefined;
    child.stdout?.on('data', (c: Buffer) => this.appendLog(c));
    child.stderr?.on('data', (c: Buffer) => this.appendLog(c));
    const pid = child.pid;
    this.unregister = onExit(() => killQuietly(pid, 2000));
    this.exitedP = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.appendLog(Buffer.from(`[testkit] ${this.spec.name} exited code=${code} signal=${signal}\n`));
        this.unregister?.();
        resolve();
      });
      child.once('error', (err) => {
        this.appendLog(Buffer.from(`[testkit] spawn error: ${err.message}\n`));
        resolve();
      });
    });
  }

  async waitReady(budgetMs = START_BUDGET_MS): Promise<void> {
    const deadline = Date.now() + budgetMs;
    let last = 'not checked';
    while (Date.now() < deadline) {
      if (!this.running) {
        await this.exitedP;
        throw new Error(`nats-server ${this.spec.name} exited during start-up\n--- log ---\n${this.logText}`);
      }
      try {
        const r = await this.readyCheck(this);
        if (r === true) return;
        last = r;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(50);
    }
    const log = this.logText;
    killQuietly(this.child?.pid);
    await this.exitedP;
    throw new Error(
      `nats-server ${this.spec.name} not ready after ${budgetMs} ms (${last}); args: ${this.spec.argv.join(' ')}\n--- log ---\n${log}`,
    );
  }

  async start(): Promise<void> {
    this.spawn();
    await this.waitReady();
  }

  stop(): Promise<void> {
    if (!this.running) return this.exitedP;
    this.stopping ??= (async () => {
      const child = this.child;
      if (!child) return;
      if (this.paused) this.resume(); // a stopped process can't handle SIGTERM
      child.kill('SIGTERM');
      const timer = setTimeout(() => killQuietly(child.pid), STOP_BUDGET_MS);
      await this.exitedP;
      clearTimeout(timer);
    })();
    return this.stopping;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    // SIGTERM/SIGINT to a paused process stay pending until it is continued.
    if (this.paused && signal !== 'SIGKILL') this.resume();
    await this.exitedP;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  pause(): void {
    if (!this.running || !this.child) throw new Error(`nats-server ${this.spec.name} is not running`);
    this.child.kill('SIGSTOP');
    this.paused = true;
    // Signal delivery is asynchronous: without this, a request sent right after pause() can
    // still be served by a thread that hasn't stopped yet.
    const pid = this.child.pid ?? -1;
    if (!waitProcState(pid, (s) => s === 'T' || s === undefined || s === 'Z', 2000)) {
      throw new Error(`nats-server ${this.spec.name} (pid ${pid}) did not stop within 2 s`);
    }
  }

  resume(): void {
    if (!this.child) return;
    try {
      this.child.kill('SIGCONT');
      const pid = this.child.pid ?? -1;
      waitProcState(pid, (s) => s !== 'T', 2000);
    } catch {
      // already exited
    }
    this.paused = false;
  }
}

function baseArgs(spec: Omit<ServerSpec, 'argv'>): string[] {
  const a = ['-a', '127.0.0.1', '-p', String(spec.port), '-m', String(spec.monitorPort), '-n', spec.name];
  if (spec.jetstream) a.push('-js', '-sd', spec.storeDir);
  return a;
}

/** Starts one nats-server (JetStream on by default) and waits until it is usable. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const jetstream = opts.jetstream ?? true;
  const port = opts.port ?? (await freePort());
  const monitorPort = await freePort();
  const storeDir = opts.storeDir ?? (await tempDir('nats-store-'));
  const base = { name: `testkit-${port}`, port, monitorPort, storeDir, jetstream };
  const argv = [...(opts.configFile ? ['-c', opts.configFile] : []), ...baseArgs(base), ...(opts.args ?? [])];
  const server = new NatsServer({ ...base, argv }, (h) => singleReady(h, jetstream));
  await server.start();
  return server;
}

export interface NatsClusterOptions {
  /** Number of nodes (default 3). */
  size?: number;
  /** Extra arguments for every node. */
  args?: string[];
}

export interface NatsClusterHandle {
  /** One client URL per node. */
  urls: string[];
  /** All client URLs comma-separated (what services take as NATS_URL). */
  servers: string;
  nodes: NatsServerHandle[];
  name: string;
  /** Resolves once a JetStream meta leader is elected and known to every running node. */
  waitForMetaLeader(budgetMs?: number): Promise<string>;
  stop(): Promise<void>;
}

interface JszMeta {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

async function metaLeaderOf(node: NatsServerHandle): Promise<string | undefined> {
  const jsz = (await httpJson(node.monitorPort, '/jsz')).body as JszMeta;
  const leader = jsz.meta_cluster?.leader;
  return leader ? leader : undefined;
}

/** Cluster-member readiness: client port accepts and the node knows the JetStream meta leader. */
async function memberReady(h: NatsServerHandle): Promise<string | true> {
  if (!(await canConnect(h.port))) return 'client port not accepting';
  const health = await httpJson(h.monitorPort, '/healthz');
  if (health.status !== 200) return `healthz ${health.status} ${JSON.stringify(health.body)}`;
  const leader = await metaLeaderOf(h);
  return leader ? true : 'no JetStream meta leader yet';
}

/** Starts a JetStream cluster on loopback (each node its own store) and waits for a meta leader. */
export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  const size = opts.size ?? 3;
  const clusterPorts: number[] = [];
  const specs: Omit<ServerSpec, 'argv'>[] = [];
  for (let i = 0; i < size; i++) {
    clusterPorts.push(await freePort());
    specs.push({
      name: `n${i}`,
      port: await freePort(),
      monitorPort: await freePort(),
      storeDir: await tempDir(`nats-n${i}-`),
      jetstream: true,
    });
  }
  const clusterName = `testkit-${process.pid}-${specs[0]?.port ?? 0}`;
  const nodes = specs.map((spec, i) => {
    const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`);
    const argv = [
      ...baseArgs(spec),
      '--cluster_name',
      clusterName,
      '--cluster',
      `nats://127.0.0.1:${clusterPorts[i]}`,
      ...(routes.length > 0 ? ['--routes', routes.join(',')] : []),
      ...(opts.args ?? []),
    ];
    return new NatsServer({ ...spec, argv }, memberReady);
  });
  // All nodes must run before any can elect a leader, so spawn first, then wait.
  for (const n of nodes) n.spawn();
  try {
    await Promise.all(nodes.map((n) => n.waitReady()));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    throw err;
  }

  const cluster: NatsClusterHandle = {
    urls: nodes.map((n) => n.url),
    servers: nodes.map((n) => n.url).join(','),
    nodes,
    name: clusterName,
    async waitForMetaLeader(budgetMs = START_BUDGET_MS) {
      const deadline = Date.now() + budgetMs;
      let seen = '';
      while (Date.now() < deadline) {
        const running = nodes.filter((n) => n.running);
        const leaders = await Promise.all(running.map((n) => metaLeaderOf(n).catch(() => undefined)));
        const first = leaders[0];
        seen = leaders.join(',');
        if (first && leaders.every((l) => l === first) && running.some((n) => n.name === first)) return first;
        await sleep(50);
      }
      throw new Error(`no agreed JetStream meta leader after ${budgetMs} ms (seen: ${seen})`);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  await cluster.waitForMetaLeader();
  return cluster;
}
