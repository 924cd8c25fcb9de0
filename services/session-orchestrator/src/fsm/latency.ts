import type { LatencyReport, StageLatency } from '@switchboard/contracts/grpc';
import type { SessionState, TurnMarks } from './session-state';

// The report's shape is the control API's (proto is the source of truth); the HTTP API serves the same.
export type { StageLatency, LatencyReport } from '@switchboard/contracts/grpc';

/** Pipeline stages: [name, from mark, to mark]. voice_to_voice is what the caller feels. */
export const STAGES: readonly (readonly [string, keyof TurnMarks, keyof TurnMarks])[] = [
  ['stt', 'speechEnded', 'final'],
  ['rag', 'final', 'answer'],
  ['tts', 'answer', 'ttsStarted'],
  ['playout', 'ttsStarted', 'playbackStarted'],
  ['voice_to_voice', 'speechEnded', 'playbackStarted'],
];

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] ?? 0;
}

export function summarise(stage: string, samples: readonly number[]): StageLatency {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    stage,
    count: sorted.length,
    totalMs: sorted.reduce((a, b) => a + b, 0),
    p50Ms: percentile(sorted, 50),
    maxMs: sorted.length ? (sorted[sorted.length - 1] ?? 0) : 0,
  };
}

/**
 * Latency of a session over what its state retains (the last 200 transitions, the last 50
 * turns plus the live one). Rejected events are not transitions and are left out; a stage is
 * counted for a turn only when both of its marks exist and are in order.
 */
export function latencyReport(state: SessionState): LatencyReport {
  const byTransition = new Map<string, number[]>();
  let totalMs = 0;
  for (const t of state.timeline) {
    if (t.rejected) continue;
    const key = `${t.from}→${t.to}`;
    const list = byTransition.get(key) ?? [];
    list.push(t.latencyMs);
    byTransition.set(key, list);
    totalMs += t.latencyMs;
  }
  const marks: TurnMarks[] = state.turnsCompleted.map((t) => t.marks);
  if (state.turn) marks.push(state.turn.marks);
  const stages = STAGES.map(([name, from, to]) => {
    const samples: number[] = [];
    for (const m of marks) {
      const a = m[from];
      const b = m[to];
      if (a !== undefined && b !== undefined && b >= a) samples.push(b - a);
    }
    return summarise(name, samples);
  });
  return {
    sessionId: state.sessionId,
    transitions: [...byTransition.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => summarise(k, v)),
    stages,
    totalMs,
  };
}
