// Shared by the stt-adapter tests: a real nats-server, a producer bus that publishes audio frames
// and MIC_SET commands like the gateway and orchestrator do, and a recorder of every event.
import { DeliverPolicy } from '@nats-io/jetstream';
import { Bus, provision } from '@switchboard/bus';
import { AudioFrame, AudioSource, STREAMS, decodeEvent, makeCommand, newId, type Event, type MicState } from '@switchboard/contracts';
import { createLogger } from '@switchboard/telemetry';
import { frames20ms, type PcmAudio } from '@switchboard/speech';
import { captureLogs, eventually, spawnNode, startNatsServer, type ChildHandle, type LogCapture, type NatsServerHandle } from '@switchboard/testkit';
import { startService, type RunningService } from '@switchboard/runtime';
import { sttAdapterService } from '../src/service';

export const PARTITIONS = 16;

/**
 * Lease TTL of the in-process tests. 3 s, not the 1 s default: this suite shares 2 cores with
 * other suites (load average 12-23 measured), and PartitionLeases renews its leases one after
 * another, so a starved main thread lost 1 s leases mid-call. The failover test uses 1 s.
 */
export const TEST_LEASE_TTL_MS = 3000;

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;

/** A real stt-adapter process for kill -9 tests: one recogniser thread, two decoders, 1 s leases. */
export function spawnAdapter(url: string, replicaId: string, extra: Record<string, string> = {}): ChildHandle {
  return spawnNode(MAIN, { env: { ...adapterEnv(url, { STT_WORKERS: '1', STT_POOL_MAX: '2', STT_SESSION_IDLE_MS: '5000', LEASE_TTL_MS: '1000', ...extra }), REPLICA_ID: replicaId } });
}

/** The HTTP port from a replica's ready line. */
export async function portOf(child: ChildHandle): Promise<number> {
  const ready = await child.waitForLine(/stt-adapter ready/, 60_000);
  return (JSON.parse(ready) as { port: number }).port;
}

/** The partitions a replica serves (GET /sessions). */
export async function owned(port: number): Promise<number[]> {
  const r = await fetch(`http://127.0.0.1:${port}/sessions`);
  return ((await r.json()) as { partitions: number[] }).partitions;
}

export async function producerBus(url: string, leaseTtlMs = TEST_LEASE_TTL_MS): Promise<Bus> {
  const bus = await Bus.connect({ servers: url, service: 'test-producer', log: createLogger({ service: 'test-producer', level: 'warn' }), partitions: PARTITIONS });
  await provision(bus.nc, bus.jsm, { leaseTtlMs });
  return bus;
}

export function adapterEnv(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NATS_URL: url,
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    PARTITIONS: String(PARTITIONS),
    LEASE_TTL_MS: String(TEST_LEASE_TTL_MS),
    LOG_LEVEL: 'info',
    STT_POOL_MAX: '4',
    STT_SESSION_IDLE_MS: '1500',
    // The suite runs on a shared, often oversubscribed 2-core box: let a backlog catch up rather than drop audio.
    STT_SESSION_QUEUE_MAX: '1500',
    ...extra,
  };
}

export interface Received {
  event: Event;
  /** Wall clock when the test saw it (Date.now()). */
  at: number;
  seq: number;
}

/** Every event on VOICE_EVENTS, in stream order. */
export class EventRecorder {
  readonly all: Received[] = [];
  #stop: (() => Promise<void>) | undefined;

  static async start(bus: Bus): Promise<EventRecorder> {
    const r = new EventRecorder();
    const c = await bus.js.consumers.get(STREAMS.events, { deliver_policy: DeliverPolicy.All });
    const msgs = await c.consume({
      callback: (m) => {
        r.all.push({ event: decodeEvent(m.data), at: Date.now(), seq: m.seq });
      },
    });
    r.#stop = async () => void (await msgs.close());
    return r;
  }

  of(sessionId: string, type?: string): Received[] {
    return this.all.filter((r) => r.event.sessionId === sessionId && (type === undefined || r.event.eventType === type));
  }

  async stop(): Promise<void> {
    await this.#stop?.();
  }
}

export interface StreamOptions {
  /** Playback speed: 1 = real time. */
  speed?: number;
  seqStart?: number;
  source?: AudioSource;
  /**
   * Rewrites the list of frames to send (by index) to simulate loss, duplication, reordering.
   * Receives the frames in order; returns the send order.
   */
  mangle?: (frames: OutFrame[]) => OutFrame[];
  /** Called after frame `i` is sent (wall clock at send). */
  onSent?: (f: OutFrame, at: number) => void;
  signal?: AbortSignal;
}

export interface OutFrame {
  seq: number;
  audioMs: number;
  pcm: Int16Array;
}

export function toFrames(audio: PcmAudio, seqStart = 0): OutFrame[] {
  return frames20ms(audio.samples, 16000).map((pcm, i) => ({ seq: seqStart + i, audioMs: (seqStart + i) * 20, pcm }));
}

/**
 * Publishes a session's audio as 20 ms frames on a self-correcting clock (sleep until the
 * frame's due time, so lateness never accumulates). Resolves when the last frame is sent.
 */
export async function streamAudio(bus: Bus, sessionId: string, audio: PcmAudio, opts: StreamOptions = {}): Promise<{ sentAt: Map<number, number>; frames: number }> {
  const speed = opts.speed ?? 1;
  let frames = toFrames(audio, opts.seqStart ?? 0);
  if (opts.mangle) frames = opts.mangle(frames);
  const sentAt = new Map<number, number>();
  const t0 = performance.now();
  for (let i = 0; i < frames.length; i++) {
    if (opts.signal?.aborted) break;
    const due = t0 + (i * 20) / speed;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const f = frames[i]!;
    bus.publishAudioIn(
      AudioFrame.fromPartial({
        sessionId,
        seq: f.seq,
        audioMs: f.audioMs,
        sampleRate: 16000,
        pcm: Buffer.from(f.pcm.buffer, f.pcm.byteOffset, f.pcm.byteLength),
        source: opts.source ?? AudioSource.AUDIO_SOURCE_TEST,
        capturedAt: Date.now(),
      }),
    );
    const at = Date.now();
    if (!sentAt.has(f.audioMs)) sentAt.set(f.audioMs, at);
    opts.onSent?.(f, at);
  }
  await bus.nc.flush();
  return { sentAt, frames: frames.length };
}

export function sendMic(bus: Bus, sessionId: string, state: MicState, reason = 'test'): Promise<unknown> {
  return bus.publishCommand(
    'stt',
    makeCommand('MIC_SET', { sessionId, source: 'session-orchestrator', commandId: `${sessionId}:${newId('mic')}:0` }, { state, reason }),
  );
}

/** Prometheus text → value of one sample (labels as a `k="v",…` substring), 0 when absent. */
export function metricValue(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`switchboard_${name}`)) continue;
    const m = /^(\S+?)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== `switchboard_${name}`) continue;
    if (labels && !(m[2] ?? '').includes(labels)) continue;
    sum += Number(m[3]);
  }
  return sum;
}

/** One in-process stt-adapter on its own nats-server, with a producer bus and an event recorder. */
export interface AdapterUnderTest {
  readonly server: NatsServerHandle;
  readonly bus: Bus;
  readonly svc: RunningService;
  readonly rec: EventRecorder;
  readonly logs: LogCapture;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts it (`env` on top of adapterEnv) and waits until the replica owns every partition. */
export async function startAdapterUnderTest(env: Record<string, string> = {}): Promise<AdapterUnderTest> {
  const server = await startNatsServer();
  const started: Array<() => Promise<unknown>> = [() => server.stop()];
  // in reverse order of starting: the service, the recorder, the bus, the server
  const stop = async (): Promise<void> => {
    for (const s of started.splice(0).reverse()) await s();
  };
  try {
    const bus = await producerBus(server.url);
    started.push(() => bus.drain());
    const rec = await EventRecorder.start(bus);
    started.push(() => rec.stop());
    const logs = captureLogs();
    const svc = await startService(sttAdapterService, adapterEnv(server.url, env), { logDestination: logs.stream });
    started.push(() => svc.stop());
    const metrics = async (): Promise<string> => (await fetch(`${svc.url}/metrics`)).text();
    await eventually(async () => metricValue(await metrics(), 'stt_partitions_owned') === PARTITIONS, 'adapter owns all partitions', 15_000);
    return { server, bus, svc, rec, logs, metrics, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
