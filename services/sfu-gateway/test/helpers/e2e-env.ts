// The whole system for end-to-end tests: a private nats-server, the five services as child
// processes (their real main.ts entry points, as in production and in the dev supervisor), and
// Debian's Chromium with a flite-spoken WAV as its fake microphone.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Bus, provision } from '@switchboard/bus';
import { createLogger } from '@switchboard/telemetry';
import { freePort, spawnNode, startNatsServer, type ChildHandle, type NatsServerHandle } from '@switchboard/testkit';
import { mintToken } from '../../src/signaling/tokens';
import { REPO_ROOT, launchChromium, tempDir, workerBin } from './media-env';

export const SERVICE_NAMES = ['session-orchestrator', 'rag-worker', 'tts-streamer', 'stt-adapter', 'sfu-gateway'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface Stack {
  nats: NatsServerHandle;
  /** A client bus for the test (publishing test events, reading streams). */
  bus: Bus;
  secret: string;
  gatewayUrl: string;
  orchestratorUrl: string;
  children: Map<ServiceName, ChildHandle>;
  callerToken(ttlS?: number): string;
  supervisorToken(sessionId: string): string;
  /** Parsed JSON log lines at error level or above, per service. */
  errorLines(): { service: string; line: Record<string, unknown> }[];
  /** Parsed JSON log lines of one service. */
  logs(service: ServiceName): Record<string, unknown>[];
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  services?: readonly ServiceName[];
}

function parse(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const bin = workerBin();
  const nats = await startNatsServer();
  const log = createLogger({ service: 'e2e-test', level: 'warn' });
  const bus = await Bus.connect({ servers: nats.url, service: 'e2e-test', log, partitions: 16 });
  // Leases of 5 s (default 1 s): Chromium, five services and nats-server share 2 cores here, and
  // a renewal delayed past a 1 s TTL hands a partition over mid-utterance.
  await provision(bus.nc, bus.jsm, { leaseTtlMs: 5000 });
  const secret = 'e2e-secret-0123456789abcdef';
  const ports = new Map<ServiceName, number>();
  for (const s of SERVICE_NAMES) ports.set(s, await freePort());
  const common = { NATS_URL: nats.url, HTTP_HOST: '127.0.0.1', PARTITIONS: '16', LOG_LEVEL: 'info', LEASE_TTL_MS: '5000' };
  const own: Record<ServiceName, Record<string, string>> = {
    'session-orchestrator': { GRPC_PORT: String(await freePort()) },
    'rag-worker': {},
    'tts-streamer': {},
    'stt-adapter': {},
    'sfu-gateway': { SIGNALING_SECRET: secret, MEDIASOUP_WORKER_BIN: bin, MEDIASOUP_WORKERS: '1' },
  };
  const children = new Map<ServiceName, ChildHandle>();
  const wanted = opts.services ?? SERVICE_NAMES;
  for (const s of wanted) {
    const child = spawnNode(join(REPO_ROOT, 'services', s, 'src', 'main.ts'), {
      cwd: REPO_ROOT,
      env: { ...common, HTTP_PORT: String(ports.get(s)), REPLICA_ID: `${s}-e2e`, ...own[s], ...(opts.env?.[s] ?? {}) },
    });
    children.set(s, child);
  }
  const stopAll = async (): Promise<void> => {
    // E2E_LOG_DIR=<dir>: keep every service's output for a post-mortem.
    const logDir = process.env['E2E_LOG_DIR'];
    if (logDir) {
      mkdirSync(logDir, { recursive: true });
      for (const [s, c] of children) writeFileSync(join(logDir, `${s}.log`), c.lines.join('\n'));
    }
    // Gateway first (it ends calls and publishes CALL_ENDED while the rest still runs).
    await children.get('sfu-gateway')?.kill('SIGTERM');
    await Promise.all([...children.entries()].filter(([s]) => s !== 'sfu-gateway').map(([, c]) => c.kill('SIGTERM')));
    await bus.drain();
    await nats.stop();
  };
  try {
    await Promise.all(
      [...children.entries()].map(async ([s, c]) => {
        const ready = new RegExp(`"msg":"${s} ready"`);
        await Promise.race([
          c.waitForLine(ready, 120_000),
          c.exited.then((code) => {
            throw new Error(`${s} exited (${code}) during start:\n${c.lines.slice(-30).join('\n')}`);
          }),
        ]);
      }),
    );
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
  return {
    nats,
    bus,
    secret,
    gatewayUrl: `http://127.0.0.1:${ports.get('sfu-gateway')}`,
    orchestratorUrl: `http://127.0.0.1:${ports.get('session-orchestrator')}`,
    children,
    callerToken: (ttlS = 600) => mintToken(secret, 'caller', ttlS, Date.now()),
    supervisorToken: (sessionId) => mintToken(secret, 'supervisor', 600, Date.now(), sessionId),
    errorLines() {
      const out: { service: string; line: Record<string, unknown> }[] = [];
      for (const [s, c] of children) {
        for (const l of c.lines) {
          const j = parse(l);
          // pino here writes level labels ("error"); numeric levels (≥ 50) are accepted too.
          const level = j?.['level'];
          if (j && (level === 'error' || level === 'fatal' || (typeof level === 'number' && level >= 50))) out.push({ service: s, line: j });
          else if (!j && /unhandled|TypeError|ReferenceError|FATAL/i.test(l)) out.push({ service: s, line: { raw: l } });
        }
      }
      return out;
    },
    logs(service) {
      return (children.get(service)?.lines ?? []).map(parse).filter((x): x is Record<string, unknown> => x !== undefined);
    },
    stop: stopAll,
  };
}

/** One piece of the fake microphone's script: words spoken by flite (slt), or silence. */
export type Segment = { say: string } | { silenceS: number };

/**
 * A 48 kHz mono WAV of `segments` for Chromium's fake capture (it loops: end with a long silence).
 * Returns the file and where each spoken segment starts/ends in it (ms).
 */
export function makeScriptWav(dir: string, segments: Segment[]): { wav: string; spans: { text: string; startMs: number; endMs: number }[]; totalMs: number } {
  // Every script gets its own files (two browsers may use two scripts from one directory).
  dir = mkdtempSync(join(dir, 'script-'));
  const parts: string[] = [];
  const spans: { text: string; startMs: number; endMs: number }[] = [];
  let t = 0;
  segments.forEach((seg, i) => {
    const out = join(dir, `seg-${i}.wav`);
    if ('say' in seg) {
      const raw = join(dir, `seg-${i}-raw.wav`);
      execFileSync('flite', ['-voice', 'slt', '-t', seg.say, '-o', raw]);
      execFileSync('sox', [raw, '-r', '48000', '-b', '16', '-c', '1', out]);
    } else {
      execFileSync('sox', ['-n', '-r', '48000', '-b', '16', '-c', '1', out, 'trim', '0', String(seg.silenceS)]);
    }
    const ms = Number(execFileSync('soxi', ['-D', out], { encoding: 'utf8' }).trim()) * 1000;
    if ('say' in seg) spans.push({ text: seg.say, startMs: t, endMs: t + ms });
    t += ms;
    parts.push(out);
  });
  const wav = join(dir, 'script-48k.wav');
  execFileSync('sox', [...parts, wav]);
  return { wav, spans, totalMs: t };
}

/** The same Chromium, flags and fake capture as the media tests. */
export const launchBrowser = launchChromium;

export interface PageView {
  status: string;
  sessionId: string;
  role: string;
  endedReason: string;
  error?: { code: string; message: string };
  states: string[];
  transcript: { role: string; final: boolean; text: string }[];
  turns: { marks: Record<string, number | undefined>; heard?: number }[];
  playbacks: { turnId: string; speakId: string; kind: string; startedAt: number; heardAt?: number; doneAt?: number; durationMs?: number; interrupted?: boolean }[];
}

export async function view(page: Page): Promise<PageView> {
  return page.evaluate(() => {
    const sb = window.sb;
    return {
      status: sb.status,
      sessionId: sb.sessionId,
      role: sb.role,
      endedReason: sb.endedReason,
      ...(sb.error ? { error: sb.error } : {}),
      states: sb.states.map((s) => s.state),
      transcript: sb.transcript.map((t) => ({ role: t.role, final: t.final, text: t.text })),
      turns: sb.turns.map((t) => ({ marks: t.marks, ...(t.heard === undefined ? {} : { heard: t.heard }) })),
      playbacks: sb.playbacks.map((p) => ({ ...p })),
    };
  });
}

/** page.waitForFunction, but a timeout reports what the page shows. */
export async function waitPage<A>(page: Page, what: string, fn: (arg: A) => boolean, arg: A, timeoutMs: number): Promise<void> {
  try {
    await page.waitForFunction(fn as (arg: unknown) => boolean, arg as unknown, { timeout: timeoutMs, polling: 250 });
  } catch (err) {
    const v = await view(page).catch(() => undefined);
    throw new Error(`${what}: ${(err as Error).message}\npage: ${JSON.stringify(v)}`);
  }
}

/** Opens the call page with `token` and presses Call; resolves once the page is in the call. */
export async function openCall(browser: Browser, gatewayUrl: string, token: string, query = ''): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('# page error:', e.message));
  await page.goto(`${gatewayUrl}/?token=${encodeURIComponent(token)}${query}`);
  await page.click('#callBtn');
  await page.waitForFunction(() => window.sb.status === 'in-call' || window.sb.status === 'ended', undefined, { timeout: 30_000 });
  return page;
}

export { tempDir };
