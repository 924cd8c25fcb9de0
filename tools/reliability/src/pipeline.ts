// A reliability run over the whole pipeline: the orchestrator replicas of `Scenario` plus real
// rag-worker, tts-streamer and stt-adapter replicas (child processes), no stand-in workers. Most
// sessions are event-level (the caller publishes speech events, as in Scenario); a few are audio
// sessions whose caller speaks real Flite speech onto voice.audio.in, so the stt-adapter is in the
// path. A playout stand-in plays the agent's audio like the gateway (PLAYBACK_STARTED/DONE) and
// records every frame; after the run both checkers read the history.
import { fileURLToPath } from 'node:url';
import { AudioCallers, AUDIO_PHRASES } from './audio-caller';
import { createRng } from './prng';
import { PlayoutStandIn } from './playout';
import { ReplicaSet } from './replicas';
import { Scenario, type ScenarioOptions, type ScenarioResult } from './scenario';
import { NON_ESCALATING_WORDS, seededSessionId, type SessionScript } from './script';
import { checkWorkers, type WorkerCheckResult } from './worker-checker';

const main = (service: string): string => fileURLToPath(new URL(`../../../services/${service}/src/main.ts`, import.meta.url));

export const WORKER_SERVICES = ['rag-worker', 'tts-streamer', 'stt-adapter'] as const;
export type WorkerService = (typeof WORKER_SERVICES)[number];

export interface PipelineOptions extends Omit<ScenarioOptions, 'standIn' | 'speak'> {
  /** sessions spoken as real audio (each costs the stt-adapter ~0.1 core while it speaks) */
  audioSessions: number;
  /** steps per audio session */
  audioSteps?: number;
  /** replicas of each worker service (default 2) */
  workerReplicas?: Partial<Record<WorkerService, number>>;
  workerEnv?: Partial<Record<WorkerService, Record<string, string>>>;
}

export interface PipelineResult extends ScenarioResult {
  workers: WorkerCheckResult;
  audioFramesSent: number;
  audioLateTicks: number;
}

export class PipelineScenario extends Scenario {
  readonly workers = new Map<WorkerService, ReplicaSet>();
  audio!: AudioCallers;
  playout!: PlayoutStandIn;

  constructor(readonly p: PipelineOptions) {
    super({
      ...p,
      // Real rag-worker: no utterance may ask for a human (the call would end mid-script).
      script: { words: NON_ESCALATING_WORDS, ...p.script },
      standIn: { rag: false, tts: false },
      speak: (sessionId, step) => this.audio.say(sessionId, step.utterance),
      env: {
        // A turn whose worker is gone for good apologises instead of waiting forever.
        TURN_TIMEOUT_MS: '20000',
        ...p.env,
      },
    });
    this.scripts.push(...audioScripts(p.seed, p.audioSessions, p.audioSteps ?? 3));
  }

  /** Every replica set, orchestrators first. */
  sets(): ReplicaSet[] {
    return [this.orchestrators, ...this.workers.values()];
  }

  override async setUp(): Promise<void> {
    await super.setUp();
    const base = {
      NATS_URL: this.o.servers,
      HTTP_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      PARTITIONS: String(this.partitions),
      LEASE_TTL_MS: String(this.o.leaseTtlMs ?? 1000),
      NATS_REPLICAS: String(this.o.natsReplicas ?? 1),
      LOG_LEVEL: 'info',
    };
    const own: Record<WorkerService, Record<string, string>> = {
      'rag-worker': { KB_WATCH: '0' },
      'tts-streamer': {},
      // One recogniser thread and two decoders per replica: two replicas share two cores with everything else.
      'stt-adapter': { STT_WORKERS: '1', STT_POOL_MAX: '2' },
    };
    for (const service of WORKER_SERVICES) {
      const set = new ReplicaSet({ service, entry: main(service), env: () => ({ ...base, ...own[service], ...this.p.workerEnv?.[service] }), readyBudgetMs: 90_000, ...(this.o.logDir ? { logDir: this.o.logDir } : {}) });
      this.workers.set(service, set);
    }
    await Promise.all(WORKER_SERVICES.map((s) => this.workers.get(s)!.start(this.p.workerReplicas?.[s] ?? 2, s.split('-')[0])));
    this.playout = await PlayoutStandIn.start(this.bus, this.recorder);
    this.audio = await AudioCallers.create(this.bus);
    for (const s of this.scripts) if (s.audio) this.audio.open(s.sessionId);
  }

  override async run(faults: (s: Scenario) => Promise<void>, budgetMs = 90_000): Promise<PipelineResult> {
    this.audio.start();
    const result = await super.run(faults, budgetMs);
    this.audio.stop();
    // Frames still in flight reach the recorder.
    await new Promise((r) => setTimeout(r, 500));
    const said = new Map(this.scripts.filter((s) => s.audio).map((s) => [s.sessionId, this.audio.said(s.sessionId)]));
    const workers = checkWorkers({ history: result.history, frames: this.playout.frames, scripts: this.scripts, said });
    return { ...result, workers, audioFramesSent: this.audio.framesSent, audioLateTicks: this.audio.lateTicks };
  }

  override async tearDown(): Promise<void> {
    this.audio?.stop();
    await this.playout?.stop();
    await Promise.all([...this.workers.values()].map((w) => w.stopAll('SIGKILL')));
    await super.tearDown();
  }
}

/** Audio sessions: phrases the recogniser knows, no interruptions (their words are not scripted text). */
function audioScripts(seed: number, sessions: number, steps: number): SessionScript[] {
  const rng = createRng(seed ^ 0xa0d10);
  return Array.from({ length: sessions }, () => ({
    sessionId: seededSessionId(rng),
    audio: true,
    hangUp: false,
    steps: Array.from({ length: steps }, () => ({ utterance: rng.pick(AUDIO_PHRASES), pauseBeforeMs: rng.int(300, 1200), interrupt: 'none' as const })),
  }));
}
