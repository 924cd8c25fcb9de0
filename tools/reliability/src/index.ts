// @switchboard/reliability: a synthetic caller, a history recorder, a Jepsen-style checker and
// fault injectors, shared by the reliability tests and bench/reliability.
export { createRng, type Rng } from './prng';
export { makeScripts, expectedQueries, supersedingText, seededSessionId, NON_ESCALATING_WORDS, type SessionScript, type ScriptStep, type ScriptOptions, type Interrupt } from './script';
export { commandOrder, type History, type RecordedEvent, type RecordedCommand, type PublishedEvent, type FinalState } from './history';
export { HistoryRecorder, type EventListener, type CommandListener } from './recorder';
export { SyntheticCaller, type SyntheticCallerOptions } from './caller';
export { checkHistory, summarizeViolations, type CheckResult, type Violation, type ViolationKind } from './checker';
export { ReplicaSet, type Replica, type Crash, type ReplicaSetOptions } from './replicas';
export { fetchFinals, settledFinals, leaseOwners, readDlq, countBy, type DeadLetter } from './observe';
export { injectBadEvents, planBadEvents, type BadKind, type BadMessage, type Injected, type InjectOptions } from './inject';
export { Scenario, ORCHESTRATOR_MAIN, orchestratorEnv, type ScenarioOptions, type ScenarioResult } from './scenario';
export { PipelineScenario, WORKER_SERVICES, type WorkerService, type PipelineOptions, type PipelineResult } from './pipeline';
export { checkWorkers, type WorkerCheckResult, type WorkerViolation, type WorkerViolationKind, type WorkerCheckInput } from './worker-checker';
export { PlayoutStandIn, type RecordedFrame } from './playout';
export { AudioCallers, AUDIO_PHRASES } from './audio-caller';
export { PipelineFaults, type FaultPlan } from './pipeline-faults';
export { ClusterProbe, applyLags, lagFigures, type ProbeNode, type ProbeChange, type ApplyLag, type LagFigures } from './cluster-probe';
export { LEASE_GROUPS, RECOVERY_DEFINITION, awaitTakeover, firstCommandAfter, killRecoveries, partitionsOf, recoveryFigures, type KillRecord, type KillRecovery, type RecoveryFigures, type RecoveryInput, type SpokenClip } from './recovery';
