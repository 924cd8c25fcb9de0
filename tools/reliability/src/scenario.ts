// One reliability run, put together: a producer bus (provisions streams/buckets), N orchestrator
// replicas as child processes, the recorder, the synthetic caller following seeded scripts;
// faults are injected by the caller of `run` while the scripts play; then the final states are
// read and the history checked.
import { fileURLToPath } from 'node:url';
import { Bus, provision } from '@switchboard/bus';
import { createLogger } from '@switchboard/telemetry';
import { SyntheticCaller, type SyntheticCallerOptions } from './caller';
import { checkHistory, type CheckResult } from './checker';
import type { History } from './history';
import { settledFinals } from './observe';
import { HistoryRecorder } from './recorder';
import { ReplicaSet } from './replicas';
import { makeScripts, type ScriptOptions, type SessionScript } from './script';

export const ORCHESTRATOR_MAIN = fileURLToPath(new URL('../../../services/session-orchestrator/src/main.ts', import.meta.url));

export function orchestratorEnv(servers: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NATS_URL: servers,
    HTTP_PORT: '0',
    GRPC_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    PARTITIONS: '16',
    LEASE_TTL_MS: '1000',
    LOG_LEVEL: 'info',
    // No timers in these runs: a no-input prompt or a filler would add turns the script does not know.
    NO_INPUT_MS: '600000',
    FILLER_AFTER_MS: '600000',
    TURN_TIMEOUT_MS: '600000',
    ...extra,
  };
}

export interface ScenarioOptions {
  servers: string;
  seed: number;
  script: ScriptOptions;
  replicas?: number;
  partitions?: number;
  leaseTtlMs?: number;
  /** JetStream replicas of streams/buckets (3 on a 3-node cluster) */
  natsReplicas?: number;
  env?: Record<string, string>;
  playMs?: number;
  startSpacingMs?: number;
  /** which workers the caller stands in for (default both; a pipeline run has real ones) */
  standIn?: SyntheticCallerOptions['standIn'];
  /** keep every replica's output in this folder (ReplicaSetOptions.logDir) */
  logDir?: string;
  /** says a step of an audio script (see AudioCallers) */
  speak?: SyntheticCallerOptions['speak'];
}

export interface ScenarioResult {
  check: CheckResult;
  history: History;
  elapsedMs: number;
  /** sessions that had not finished their script when the budget ran out */
  unfinished: ReturnType<SyntheticCaller['unfinished']>;
  publishRetries: number;
  callerErrors: string[];
}

export class Scenario {
  readonly scripts: SessionScript[];
  bus!: Bus;
  orchestrators!: ReplicaSet;
  recorder!: HistoryRecorder;
  caller!: SyntheticCaller;
  #t0 = 0;

  constructor(readonly o: ScenarioOptions) {
    this.scripts = makeScripts(o.seed, o.script);
  }

  get partitions(): number {
    return this.o.partitions ?? 16;
  }

  async setUp(): Promise<void> {
    const log = createLogger({ service: 'reliability', level: 'warn' });
    this.bus = await Bus.connect({ servers: this.o.servers, service: 'reliability', log, partitions: this.partitions, connectBudgetMs: 30_000 });
    await provision(this.bus.nc, this.bus.jsm, { replicas: this.o.natsReplicas ?? 1, leaseTtlMs: this.o.leaseTtlMs ?? 1000, onRetry: (step, attempt, err) => log.warn({ step, attempt, err: err.message }, 'provisioning: JetStream not ready, retrying') });
    this.orchestrators = new ReplicaSet({
      service: 'session-orchestrator',
      entry: ORCHESTRATOR_MAIN,
      env: () =>
        orchestratorEnv(this.o.servers, {
          PARTITIONS: String(this.partitions),
          LEASE_TTL_MS: String(this.o.leaseTtlMs ?? 1000),
          NATS_REPLICAS: String(this.o.natsReplicas ?? 1),
          ...this.o.env,
        }),
      ...(this.o.logDir ? { logDir: this.o.logDir } : {}),
    });
    await this.orchestrators.start(this.o.replicas ?? 3, 'orch');
    this.recorder = await HistoryRecorder.start(this.bus);
    this.caller = new SyntheticCaller({
      bus: this.bus,
      recorder: this.recorder,
      scripts: this.scripts,
      playMs: this.o.playMs ?? 20,
      startSpacingMs: this.o.startSpacingMs ?? 2,
      ...(this.o.standIn ? { standIn: this.o.standIn } : {}),
      ...(this.o.speak ? { speak: this.o.speak } : {}),
    });
  }

  /** Plays the scripts while `faults` runs; returns once both are done (or the budget is spent) and the history is checked. */
  async run(faults: (s: Scenario) => Promise<void>, budgetMs = 90_000): Promise<ScenarioResult> {
    this.#t0 = Date.now();
    const started = this.caller.start();
    const faultsDone = faults(this);
    await started;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, budgetMs)));
    await Promise.race([Promise.all([this.caller.done(), faultsDone]), timeout]);
    clearTimeout(timer);
    await faultsDone.catch(() => undefined);
    const unfinished = this.caller.unfinished();
    this.caller.stop();
    const elapsedMs = Date.now() - this.#t0;
    const wanted = new Map(this.scripts.map((s) => [s.sessionId, s.hangUp ? ['ENDED'] : ['LISTENING', 'IDLE']]));
    const finals = await settledFinals(() => this.orchestrators.url(), wanted, 15_000);
    await this.recorder.caughtUp();
    const history = this.recorder.history(finals);
    return {
      check: checkHistory(history, this.scripts),
      history,
      elapsedMs,
      unfinished,
      publishRetries: this.caller.publishRetries,
      callerErrors: this.caller.errors.map((e) => e.message),
    };
  }

  async tearDown(): Promise<void> {
    this.caller?.stop();
    await this.recorder?.stop();
    await this.orchestrators?.stopAll('SIGKILL');
    await this.bus?.drain();
  }
}
