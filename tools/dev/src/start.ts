// Local supervisor: the README's start command. Runs every service (N replicas each, the same
// entry points as in Kubernetes) against the local NATS server, restarts a crashed replica,
// prints the call page link, and stops everything cleanly on Ctrl-C.
//   node --import tsx tools/dev/src/start.ts [--replicas N] [--replicas-rag-worker N ...] [--json]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface ServiceSpec {
  name: string;
  basePort: number;
  extraEnv?: (replica: number) => Record<string, string>;
}

// Each service's replicas take consecutive ports from its base.
const SERVICES: ServiceSpec[] = [
  { name: 'session-orchestrator', basePort: 8090, extraEnv: (i) => ({ GRPC_PORT: String(50051 + i) }) },
  { name: 'rag-worker', basePort: 8110 },
  { name: 'tts-streamer', basePort: 8120 },
  { name: 'stt-adapter', basePort: 8100 },
  { name: 'sfu-gateway', basePort: 8080 },
];

const { values } = parseArgs({
  allowPositionals: false,
  strict: false,
  options: {
    replicas: { type: 'string', default: '1' },
    nats: { type: 'string', default: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222' },
    json: { type: 'boolean', default: false },
    partitions: { type: 'string', default: process.env['PARTITIONS'] ?? '64' },
  },
});

const replicasOf = (name: string): number => {
  const v = (values as Record<string, unknown>)[`replicas-${name}`] ?? values.replicas;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 16) {
    console.error(`--replicas${v === values.replicas ? '' : `-${name}`} must be an integer 0..16, got ${String(v)}`);
    process.exit(2);
  }
  return n;
};

const COLORS = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m', '\x1b[91m'];
const RESET = '\x1b[0m';
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const children = new Set<ChildProcess>();
let shuttingDown = false;

function say(msg: string): void {
  process.stdout.write(`\x1b[1m[switchboard]\x1b[0m ${msg}\n`);
}

function printLine(tag: string, color: string, line: string): void {
  if (values.json) return void process.stdout.write(`${line}\n`);
  let out = line;
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    const { level, time, msg, service: _s, replica: _r, pid: _p, hostname: _h, ...rest } = j;
    const d = new Date(typeof time === 'number' ? time : String(time));
    const t = Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(11, 23);
    const extra = Object.entries(rest)
      .filter(([, v]) => v !== undefined && (typeof v !== 'object' || v === null))
      .slice(0, 8)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    out = `${t} ${LEVELS[Number(level)] ?? level} ${String(msg ?? '')} ${extra}`;
  } catch {
    // not JSON: print as is
  }
  process.stdout.write(`${color}${tag}${RESET} ${out}\n`);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function ensureNats(url: string): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || 4222);
  if (await canConnect(u.hostname, port)) {
    say(`using the NATS server at ${url}`);
    return;
  }
  const store = path.join(ROOT, '.switchboard', 'nats');
  mkdirSync(store, { recursive: true });
  say(`no NATS server at ${url}: starting nats-server with JetStream (store ${path.relative(ROOT, store)})`);
  const bin = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
  const child = spawn(bin, ['-a', u.hostname, '-p', String(port), '-js', '-sd', store], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.stderr?.on('data', (b: Buffer) => {
    for (const l of b.toString().split('\n')) if (/\[(ERR|FTL)\]/.test(l)) printLine('[nats-server]', '\x1b[90m', l);
  });
  for (let i = 0; i < 50; i++) {
    if (await canConnect(u.hostname, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('nats-server did not start within 5 s');
}

function runOnce(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout.on('data', (b: Buffer) => b.toString().split('\n').filter(Boolean).forEach((l) => printLine('[provision]', '\x1b[90m', l)));
    c.stderr.on('data', (b: Buffer) => process.stderr.write(b));
    c.on('exit', (code) => resolve(code ?? 1));
  });
}

function startReplica(spec: ServiceSpec, i: number, color: string, common: Record<string, string>): void {
  const entry = path.join(ROOT, 'services', spec.name, 'src', 'main.ts');
  const tag = `[${spec.name}#${i}]`;
  const env = { ...common, HTTP_PORT: String(spec.basePort + i), REPLICA_ID: `${spec.name}-${i}`, ...(spec.extraEnv?.(i) ?? {}) };
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let buf = '';
  const onData = (b: Buffer) => {
    buf += b.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.trim()) continue;
      printLine(tag, color, l);
      if (l.includes('"callUrl"')) {
        try {
          const url = (JSON.parse(l) as { callUrl: string }).callUrl;
          say(`\x1b[1;32mcall page: ${url}\x1b[0m`);
        } catch {
          // ignore
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (shuttingDown) return;
    say(`${tag} exited (${signal ?? code}); restarting in 1 s`);
    setTimeout(() => startReplica(spec, i, color, common), 1000).unref();
  });
}

async function main(): Promise<void> {
  await ensureNats(values.nats as string);
  const common: Record<string, string> = {
    NATS_URL: values.nats as string,
    PARTITIONS: values.partitions as string,
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    SIGNALING_SECRET: process.env['SIGNALING_SECRET'] ?? randomBytes(24).toString('base64url'),
    HTTP_HOST: process.env['HTTP_HOST'] ?? '127.0.0.1',
  };
  say('provisioning streams and KV buckets (idempotent)');
  const code = await runOnce([path.join(ROOT, 'tools/provision/src/main.ts')], common);
  if (code !== 0) throw new Error(`provisioning failed (exit ${code})`);
  SERVICES.forEach((spec, k) => {
    const n = replicasOf(spec.name);
    if (!existsSync(path.join(ROOT, 'services', spec.name, 'src', 'main.ts'))) {
      say(`\x1b[33m${spec.name}: no entry point yet, skipped\x1b[0m`);
      return;
    }
    for (let i = 0; i < n; i++) startReplica(spec, i, COLORS[k % COLORS.length]!, common);
    say(`${spec.name}: ${n} replica(s) on ports ${spec.basePort}..${spec.basePort + n - 1}`);
  });
  say('Ctrl-C stops everything');
}

function shutdown(sig: string): void {
  if (shuttingDown) return;
  shuttingDown = true;
  say(`${sig}: stopping ${children.size} processes`);
  for (const c of children) c.kill('SIGTERM');
  const deadline = setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(0);
  }, 12_000);
  const poll = setInterval(() => {
    if (children.size === 0) {
      clearInterval(poll);
      clearTimeout(deadline);
      process.exit(0);
    }
  }, 100);
  for (const c of children) c.on('exit', () => children.delete(c));
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

main().catch((err: unknown) => {
  console.error(`start failed: ${(err as Error).message}`);
  shutdown('error');
});
