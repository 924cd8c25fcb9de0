// The whole pipeline under faults: real rag-worker, tts-streamer and stt-adapter replicas (two
// each) beside three orchestrators; event-level calls and a call speaking real audio. One run
// kills -9 replicas of every service (fresh replicas replace them), the other makes worker
// replicas slow consumers (SIGSTOP below and above ack_wait / the lease TTL, again and again).
// Both checkers — sessions and workers — must be clean. Fixed seeds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { exclusiveTestFile, startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { PipelineFaults, PipelineScenario, createRng, summarizeViolations, type PipelineResult } from '@switchboard/reliability';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

// Both runs are on by default. The slow-consumer run used to be opt-in: a tts-streamer replica
// woken from a SIGSTOP longer than ack_wait either streamed a speak the server had meanwhile given
// to the other replica (it had read it from its socket after the stall, so it counted ack_wait from
// the read, not from the server's send), or nak'ed one it had been streaming — and nats-server
// applied that stale nak to the other replica's delivery and gave the speak to a third holder.
// consume() now keeps each delivery's own account of ack_wait (HeldDelivery) and a lost delivery
// is left to the server (services/tts-streamer/test/frozen.test.ts).

let server: NatsServerHandle | undefined;
let sc: PipelineScenario | undefined;
after(async () => {
  await sc?.tearDown();
  await server?.stop();
});

async function pipelineRun(seed: number, faults: (f: PipelineFaults) => Promise<void>): Promise<{ r: PipelineResult; f: PipelineFaults; s: PipelineScenario }> {
  await sc?.tearDown();
  await server?.stop();
  server = await startNatsServer();
  sc = new PipelineScenario({
    servers: server.url,
    seed,
    replicas: 3,
    startSpacingMs: 50,
    audioSessions: 1,
    audioSteps: 4,
    script: { sessions: 8, steps: [4, 6], pauseMs: [600, 2000], bargeInRate: 0.2, supersedeRate: 0.15, hangUpRate: 0.25 },
  });
  await sc.setUp();
  const f = new PipelineFaults(sc);
  const r = await sc.run(() => faults(f), 240_000);
  return { r, f, s: sc };
}

function assertClean(name: string, { r, s, f }: { r: PipelineResult; s: PipelineScenario; f: PipelineFaults }): void {
  const all = [...r.check.violations, ...r.workers.violations];
  console.log(
    `# ${name}: ${r.check.sessions} calls, ${r.check.eventsChecked} events, ${r.check.commandsChecked} commands, ${r.workers.ragQueries} live queries, ` +
      `${r.workers.speaks} speaks, ${r.workers.framesChecked} agent frames, finals ${r.workers.finalsDelivered}/${r.workers.finalsExpected}; ` +
      `lost ${r.check.lost}, duplicated ${r.check.duplicated}, stuck ${r.check.stuck}, worker violations ${r.workers.violations.length}; run ${r.elapsedMs} ms`,
  );
  if (all.length > 0 || r.unfinished.length > 0 || process.env['RELIABILITY_DUMP'] === '1')
    writeFileSync(
      `/tmp/reliability-${name}.json`,
      JSON.stringify({ violations: all, unfinished: r.unfinished, pauses: f.pauseLog, scripts: s.scripts, history: r.history, frames: s.playout.frames, workerLogs: [...s.workers.values()].flatMap((w) => w.logLines()) }),
    );
  assert.deepEqual(r.callerErrors, []);
  assert.deepEqual(s.sets().flatMap((x) => x.crashes), [], 'no replica crashed on its own');
  assert.equal(all.length, 0, `${summarizeViolations(all)}\nunfinished: ${JSON.stringify(r.unfinished.slice(0, 5))}`);
  assert.equal(r.unfinished.length, 0);
  assert.ok(r.workers.finalsExpected >= 4, 'the audio call said its utterances');
  assert.ok(r.workers.speaks > r.check.sessions, 'the tts-streamer spoke');
}

void test('pipeline: kill -9 of replicas of every service (12 kills), checkers clean (seed 7)', async () => {
  const run = await pipelineRun(7, (f) => f.killRandomReplicas(createRng(7), { count: 12, gapMs: [1500, 3000] }));
  assertClean('pipeline-kills', run);
  for (const service of ['session-orchestrator', 'rag-worker', 'tts-streamer', 'stt-adapter']) assert.ok((run.f.killsBy[service] ?? 0) > 0, `a ${service} replica was killed`);
});

void test('pipeline: slow consumers — worker replicas SIGSTOPped for 1–6 s, 8 times, checkers clean (seed 11)', async () => {
  const run = await pipelineRun(11, (f) => f.pauseRandomWorkers(createRng(11), { count: 8, gapMs: [1500, 3000], pauseMs: [1000, 6000] }));
  assertClean('pipeline-slow-consumers', run);
  assert.equal(run.f.pauses, 8);
});
