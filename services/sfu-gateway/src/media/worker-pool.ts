// A pool of mediasoup Workers (one OS process each). Routers go to the least-loaded live worker;
// a worker that dies is replaced, and the owners of its routers are told (reason 'worker_died')
// so each call can end cleanly instead of holding dead transports.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { types as ms } from 'mediasoup';
import { MediaError } from './errors';
import type { MediaLogger } from './logger';
import { noopLogger } from './logger';

type MediasoupModule = typeof import('mediasoup');

export interface WorkerPoolConfig {
  /** Path of the mediasoup-worker binary (scripts/mediasoup/build-worker.sh --print-path).
   *  Default: $MEDIASOUP_WORKER_BIN. */
  workerBin?: string;
  /** Number of workers. Default: the number of cores. */
  size?: number;
  logLevel?: ms.WorkerLogLevel;
  /** Delay before respawning a dead worker; doubles up to 10 s while respawns keep failing. */
  respawnDelayMs?: number;
  log?: MediaLogger;
}

export type RouterEndReason = 'worker_died' | 'pool_stopped';

export interface RouterLease {
  readonly router: ms.Router;
  readonly workerPid: number;
  /** Closes the router (idempotent) and frees its slot on the worker. */
  release(): void;
}

export interface WorkerStats {
  readonly pid: number;
  readonly routers: number;
  readonly usage: ms.WorkerResourceUsage;
}

export interface WorkerPool {
  start(): Promise<void>;
  /** Tells every router owner ('pool_stopped', so calls stop their clocks), then closes every worker. */
  stop(): Promise<void>;
  /** A Router on the least-loaded live worker; `onEnded` runs once if that worker dies or the pool stops. */
  createRouter(opts: {
    mediaCodecs: ms.RouterRtpCodecCapability[];
    onEnded: (reason: RouterEndReason) => void;
    appData?: ms.AppData;
  }): Promise<RouterLease>;
  stats(): Promise<WorkerStats[]>;
  /** Live workers right now (a dead one is gone until its replacement is up). */
  readonly liveWorkers: number;
  /** The mediasoup module the pool loaded (for code that needs its helpers). */
  readonly mediasoup: MediasoupModule;
}

interface Slot {
  worker: ms.Worker;
  owners: Map<string, (reason: RouterEndReason) => void>; // router id → owner callback
}

/**
 * mediasoup reads MEDIASOUP_WORKER_BIN once, when its module is first loaded: set it before the
 * dynamic import and verify it took effect (another module may have imported mediasoup first).
 */
export async function loadMediasoup(workerBin?: string): Promise<MediasoupModule> {
  const wanted = workerBin ?? process.env['MEDIASOUP_WORKER_BIN'];
  if (!wanted) {
    throw new MediaError(
      'WORKER_BIN_MISSING',
      'no mediasoup worker binary: set MEDIASOUP_WORKER_BIN or config.workerBin ' +
        '(build it with scripts/mediasoup/build-worker.sh; --print-path prints where it is)',
    );
  }
  if (!existsSync(wanted)) {
    throw new MediaError('WORKER_BIN_MISSING', `mediasoup worker binary not found at ${wanted} (run scripts/mediasoup/build-worker.sh)`);
  }
  if (!process.env['MEDIASOUP_WORKER_BIN']) process.env['MEDIASOUP_WORKER_BIN'] = wanted;
  const mod = (await import('mediasoup')) as MediasoupModule & { default?: MediasoupModule };
  // tsx/Node's CJS interop exposes named exports; fall back to default for other loaders.
  const m: MediasoupModule = typeof mod.createWorker === 'function' ? mod : (mod.default ?? mod);
  if (m.workerBin !== wanted) {
    throw new MediaError(
      'WORKER_BIN_MISMATCH',
      `mediasoup was loaded with worker ${m.workerBin}, not ${wanted}: set MEDIASOUP_WORKER_BIN before anything imports mediasoup`,
    );
  }
  return m;
}

export function createWorkerPool(config: WorkerPoolConfig = {}): WorkerPool {
  const size = Math.max(1, config.size ?? availableParallelism());
  const log = config.log ?? noopLogger;
  const baseRespawnMs = config.respawnDelayMs ?? 200;
  const slots: (Slot | undefined)[] = new Array<Slot | undefined>(size).fill(undefined);
  const respawnTimers = new Set<NodeJS.Timeout>();
  let mediasoup: MediasoupModule | undefined;
  let state: 'new' | 'started' | 'stopped' = 'new';

  async function spawn(index: number): Promise<void> {
    if (!mediasoup) throw new MediaError('POOL_NOT_STARTED', 'worker pool not started');
    const worker = await mediasoup.createWorker({
      logLevel: config.logLevel ?? 'warn',
      // liburing is not compiled in (Debian 12's liburing is 2.3): nothing to disable, but say so.
      disableLiburing: true,
      appData: { index },
    });
    if (state === 'stopped') {
      worker.close();
      return;
    }
    const slot: Slot = { worker, owners: new Map() };
    slots[index] = slot;
    log.info({ pid: worker.pid, index }, 'mediasoup worker up');
    worker.on('died', (error) => {
      if (slots[index] === slot) slots[index] = undefined;
      log.error({ pid: worker.pid, index, err: error.message, routers: slot.owners.size }, 'mediasoup worker died');
      const owners = [...slot.owners.values()];
      slot.owners.clear();
      for (const onEnded of owners) {
        try {
          onEnded('worker_died');
        } catch (err) {
          log.error({ err: String(err) }, 'router owner threw on worker_died');
        }
      }
      scheduleRespawn(index, baseRespawnMs);
    });
  }

  function scheduleRespawn(index: number, delayMs: number): void {
    if (state !== 'started') return;
    const t = setTimeout(() => {
      respawnTimers.delete(t);
      if (state !== 'started') return;
      spawn(index).catch((err: unknown) => {
        log.error({ index, err: String(err), retryInMs: Math.min(delayMs * 2, 10_000) }, 'worker respawn failed');
        scheduleRespawn(index, Math.min(delayMs * 2, 10_000));
      });
    }, delayMs);
    respawnTimers.add(t);
  }

  function pickSlot(): Slot {
    let best: Slot | undefined;
    for (const s of slots) {
      if (!s || s.worker.closed || s.worker.died) continue;
      if (!best || s.owners.size < best.owners.size) best = s;
    }
    if (!best) throw new MediaError('NO_WORKER', 'no live mediasoup worker (respawn pending)');
    return best;
  }

  return {
    get liveWorkers() {
      return slots.filter((s) => s && !s.worker.died && !s.worker.closed).length;
    },
    get mediasoup() {
      if (!mediasoup) throw new MediaError('POOL_NOT_STARTED', 'worker pool not started');
      return mediasoup;
    },

    async start() {
      if (state !== 'new') throw new MediaError('POOL_STOPPED', `worker pool already ${state}`);
      mediasoup = await loadMediasoup(config.workerBin);
      state = 'started';
      await Promise.all(slots.map((_, i) => spawn(i)));
      log.info({ size, workerBin: mediasoup.workerBin }, 'mediasoup worker pool started');
    },

    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      for (const t of respawnTimers) clearTimeout(t);
      respawnTimers.clear();
      const closing: Promise<void>[] = [];
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        slots[i] = undefined;
        if (!s) continue;
        const owners = [...s.owners.values()];
        s.owners.clear();
        for (const onEnded of owners) {
          try {
            onEnded('pool_stopped');
          } catch (err) {
            log.error({ err: String(err) }, 'router owner threw on pool_stopped');
          }
        }
        if (!s.worker.closed) {
          closing.push(new Promise((resolve) => {
            s.worker.observer.once('close', () => resolve());
            s.worker.close();
          }));
        }
      }
      await Promise.all(closing);
    },

    async createRouter({ mediaCodecs, onEnded, appData }) {
      if (state !== 'started') throw new MediaError(state === 'new' ? 'POOL_NOT_STARTED' : 'POOL_STOPPED', `worker pool ${state}`);
      const slot = pickSlot();
      // Reserve the slot before the await so concurrent calls spread over workers.
      const reservation = `pending:${Math.random()}`;
      slot.owners.set(reservation, () => {});
      let router: ms.Router;
      try {
        router = await slot.worker.createRouter({ mediaCodecs, appData: appData ?? {} });
      } finally {
        slot.owners.delete(reservation);
      }
      let ended = false;
      const once = (reason: RouterEndReason): void => {
        if (ended) return;
        ended = true;
        onEnded(reason);
      };
      slot.owners.set(router.id, once);
      // mediasoup closes a dead worker's routers before it emits 'died': keep their owners then,
      // the 'died' handler calls them.
      router.observer.once('close', () => {
        if (!slot.worker.died) slot.owners.delete(router.id);
      });
      return {
        router,
        workerPid: slot.worker.pid,
        release() {
          ended = true;
          slot.owners.delete(router.id);
          if (!router.closed) router.close();
        },
      };
    },

    async stats() {
      const out: WorkerStats[] = [];
      for (const s of slots) {
        if (!s || s.worker.died || s.worker.closed) continue;
        out.push({ pid: s.worker.pid, routers: s.owners.size, usage: await s.worker.getResourceUsage() });
      }
      return out;
    },
  };
}
