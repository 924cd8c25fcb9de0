// Recognizers in worker threads: each worker has its own VAD + STT engines; a session lives on
// the worker with the fewest sessions when it opens. The main thread keeps NATS, leases and
// publishing responsive however busy the decoders are.
import { Worker } from 'node:worker_threads';
import type { Logger } from '@switchboard/telemetry';
import type { SttAdapterConfig } from '../config';
import type { Mic, RecognizerFrame } from '../core/session-recognizer';
import { SttStartupError } from '../providers';
import type { HostedSession, OpenSession, RecognizerHost, RecognizerSettings } from './host';
import type { FromWorker, ToWorker } from './worker-protocol';

const WORKER_ENTRY = new URL('./recognizer-worker.ts', import.meta.url).href;
const START_BUDGET_MS = 60_000;
const STOP_BUDGET_MS = 5_000;

interface Remote {
  open: OpenSession;
  pending: number;
  state: { mic: Mic; speaking: boolean; decoding: boolean };
  closed?: () => void;
}

interface Slot {
  readonly worker: Worker;
  readonly sessions: Map<string, Remote>;
  /** Decoders this worker holds (its share of STT_POOL_MAX). */
  readonly decoders: number;
  decodersInUse: number;
  alive: boolean;
}

/** Worker i's share of the decoder pool: the pool split as evenly as it goes, at least one each. */
export function decodersOf(pool: number, workers: number, i: number): number {
  return Math.max(1, Math.floor(pool / workers) + (i < pool % workers ? 1 : 0));
}

/**
 * Where a new session opens: the worker with the fewest sessions (each speaking call on a thread of
 * its own is the point of having several), then the one with more decoders. Ranking by sessions
 * per decoder instead put the first two calls on the same worker when the pool split 2/1/1.
 */
export function leastLoaded<T extends { readonly sessions: number; readonly decoders: number }>(slots: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const s of slots) {
    if (!best || s.sessions < best.sessions || (s.sessions === best.sessions && s.decoders > best.decoders)) best = s;
  }
  return best;
}

/** The worker runs TypeScript source like the rest of the service: register tsx in it first. */
function bootstrap(): string {
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_ENTRY)}); })`;
}

export async function createWorkerHost(
  config: SttAdapterConfig,
  settings: RecognizerSettings,
  workers: number,
  log: Logger,
  onWorkerDied: (reason: string) => void,
): Promise<RecognizerHost> {
  const slots: Slot[] = [];
  let closing = false;

  function handle(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'event':
        slot.sessions.get(m.id)?.open.sink(m.ev);
        return;
      case 'done': {
        const r = slot.sessions.get(m.id);
        if (!r) return;
        r.pending = Math.max(0, r.pending - 1);
        r.state = { mic: m.mic, speaking: m.speaking, decoding: m.decoding };
        r.open.onFrameDone?.(m.ms);
        return;
      }
      case 'closed': {
        const r = slot.sessions.get(m.id);
        slot.sessions.delete(m.id);
        r?.closed?.();
        return;
      }
      case 'error':
        slot.sessions.get(m.id)?.open.onError(m.msg, m.err);
        return;
      case 'log':
        log[m.level](m.obj, m.msg);
        return;
      case 'stats':
        slot.decodersInUse = m.decodersInUse;
        return;
      default:
        return;
    }
  }

  async function startOne(i: number): Promise<Slot> {
    // The decoder pool is split between workers (each decoder holds ~130 MB).
    const perWorker = { ...config, STT_POOL_MAX: decodersOf(config.STT_POOL_MAX, workers, i) };
    const worker = new Worker(bootstrap(), { eval: true, workerData: { config: perWorker, settings }, name: `stt-recognizer-${i}` });
    const slot: Slot = { worker, sessions: new Map(), decoders: perWorker.STT_POOL_MAX, decodersInUse: 0, alive: true };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SttStartupError('ENGINE_INIT_FAILED', `recognizer worker ${i} did not start within ${START_BUDGET_MS} ms`)), START_BUDGET_MS);
      const first = (m: FromWorker): void => {
        if (m.t === 'ready') {
          clearTimeout(timer);
          worker.off('message', first);
          resolve();
        } else if (m.t === 'fatal') {
          clearTimeout(timer);
          worker.off('message', first);
          reject(new SttStartupError(m.code ?? 'ENGINE_INIT_FAILED', m.message));
        } else handle(slot, m);
      };
      worker.on('message', first);
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(new SttStartupError('ENGINE_INIT_FAILED', `recognizer worker ${i} failed: ${err.message}`, { cause: err }));
      });
    });
    worker.on('message', (m: FromWorker) => handle(slot, m));
    worker.on('error', (err) => log.error({ worker: i, err: err.message }, 'stt-adapter: recognizer worker error'));
    worker.once('exit', (code) => {
      slot.alive = false;
      if (closing) return;
      log.error({ worker: i, code, sessions: slot.sessions.size }, 'stt-adapter: recognizer worker exited');
      for (const r of slot.sessions.values()) r.closed?.();
      slot.sessions.clear();
      onWorkerDied(`recognizer worker ${i} exited with code ${code}`);
    });
    return slot;
  }

  const started = await Promise.allSettled(Array.from({ length: workers }, (_, i) => startOne(i)));
  for (const r of started) if (r.status === 'fulfilled') slots.push(r.value);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    closing = true;
    await Promise.all(slots.map((s) => s.worker.terminate()));
    throw failed.reason;
  }

  const send = (slot: Slot, m: ToWorker, transfer?: ArrayBuffer[]): void => {
    if (slot.alive) slot.worker.postMessage(m, transfer);
  };

  return {
    kind: 'worker',
    open(o: OpenSession): HostedSession {
      const live = slots.filter((s) => s.alive);
      const slot = leastLoaded(live.map((s) => ({ slot: s, sessions: s.sessions.size, decoders: s.decoders })))?.slot ?? slots[0]!;
      const remote: Remote = { open: o, pending: 0, state: { mic: o.mic, speaking: false, decoding: false } };
      const id = o.sessionId;
      slot.sessions.set(id, remote);
      send(slot, { t: 'open', id, mic: o.mic, ...(o.resume ? { resume: o.resume } : {}), firstUtterance: o.firstUtterance });
      let closing: Promise<void> | undefined;
      return {
        get pending() {
          return remote.pending;
        },
        get state() {
          return remote.state;
        },
        push(frame: RecognizerFrame) {
          if (closing) return;
          // Copy: the samples may be a view into a larger network buffer; the copy is transferred.
          const pcm = frame.samples.slice().buffer;
          remote.pending++;
          send(slot, { t: 'frame', id, audioMs: frame.audioMs, afterJump: frame.afterJump ?? false, pcm }, [pcm]);
        },
        setMic(mic: Mic) {
          if (!closing) send(slot, { t: 'mic', id, mic });
        },
        close() {
          closing ??= new Promise<void>((resolve) => {
            if (!slot.alive || slot.sessions.get(id) !== remote) return resolve();
            remote.closed = resolve;
            send(slot, { t: 'close', id });
          });
          return closing;
        },
      };
    },
    decodersInUse: () => slots.reduce((n, s) => n + s.decodersInUse, 0),
    async close() {
      closing = true;
      await Promise.all(
        slots.map(async (s) => {
          if (!s.alive) return;
          const bye = new Promise<void>((resolve) => {
            s.worker.on('message', (m: FromWorker) => m.t === 'bye' && resolve());
            s.worker.once('exit', () => resolve());
          });
          send(s, { t: 'shutdown' });
          await Promise.race([bye, new Promise((r) => setTimeout(r, STOP_BUDGET_MS).unref())]);
          await s.worker.terminate();
        }),
      );
    },
  };
}
