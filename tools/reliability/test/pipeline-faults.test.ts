// The fault loops stop after `count` faults whether or not the caller watches their progress:
// without an onProgress the pipeline test's kill loop once never ended (it counted faults inside
// the optional callback), killing replicas for half an hour past the run's budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineFaults, createRng, type PipelineScenario, type ReplicaSet } from '@switchboard/reliability';

/** Replica sets that only count what was done to them (no processes). */
function fakeScenario(): { sc: PipelineScenario; killed: string[]; paused: string[] } {
  const killed: string[] = [];
  const paused: string[] = [];
  const set = (service: string) =>
    ({
      service,
      replicas: new Map([['a', {}], ['b', {}]]),
      killRandom: async () => (killed.push(service), { victim: 'a', killedAt: Date.now() }),
      pauseRandom: async () => (paused.push(service), { victim: 'a', pausedAt: 0, resumedAt: 0 }),
      waitReady: async () => ({}),
    }) as unknown as ReplicaSet;
  const sets = [set('session-orchestrator'), set('rag-worker')];
  const sc = { sets: () => sets, workers: new Map([['rag-worker', sets[1]]]) } as unknown as PipelineScenario;
  return { sc, killed, paused };
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} still running after ${ms} ms`)), ms).unref())]);

test('kill and pause loops do exactly `count` faults without an onProgress callback', async () => {
  const { sc, killed, paused } = fakeScenario();
  const f = new PipelineFaults(sc);
  await within(f.killRandomReplicas(createRng(1), { count: 5, gapMs: [0, 1] }), 2_000, 'kill loop');
  assert.equal(killed.length, 5);
  assert.equal(f.kills, 5);
  await within(f.pauseRandomWorkers(createRng(2), { count: 3, gapMs: [0, 1], pauseMs: [1, 2] }), 2_000, 'pause loop');
  assert.equal(paused.length, 3);
  assert.equal(f.pauses, 3);
});
