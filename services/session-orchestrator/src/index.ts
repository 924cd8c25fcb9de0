// @switchboard/session-orchestrator
export { orchestratorService, OrchestratorConfigSchema } from './service';
export { createOrchestrator, type Orchestrator, type OrchestratorOptions, type SessionUpdate } from './shell/orchestrator';
export { SessionStore, sessionKey, type SessionRecord, type OutboxEntry } from './shell/store';
export { reduce, initialState, latencyReport, STATE_CONTRACTS, STATE_MARKERS, TRANSITIONS, parseFsmConfig, type SessionState, type FsmConfig } from './fsm';
