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

// The kill run is on by default (it passed 2 of 2 runs under the measurement lock, 64–67 s, once
// its fault loop stopped after `count` kills — it used to kill forever without an onProgress).
// The slow-consumer run stays opt-in (RELIABILITY_PIPELINE=1): sessions are clean now, but a
// tts-streamer replica SIGSTOPped while a speak waits in its buffer or per-session queue (before
// the handler runs, so LoopGapWatch cannot tie the gap to it) still streams it after its ack_wait
// expired and another replica streams it too (2 speaks with frames twice in the last run).
const slow = process.env['RELIABILITY_PIPELINE'] === '1' ? test : test.skip;

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

function assertClean(name: string, { r, s }: { r: PipelineResult; s: PipelineScenario }): void {
  const all = [...r.check.violations, ...r.workers.violations];
  console.log(
    `# ${name}: ${r.check.sessions} calls, ${r.check.eventsChecked} events, ${r.check.commandsChecked} commands, ${r.workers.ragQueries} live queries, ` +
      `${r.workers.speaks} speaks, ${r.workers.framesChecked} agent frames, finals ${r.workers.finalsDelivered}/${r.workers.finalsExpected}; ` +
      `lost ${r.check.lost}, duplicated ${r.check.duplicated}, stuck ${r.check.stuck}, worker violations ${r.workers.violations.length}; run ${r.elapsedMs} ms`,
  );
  if (all.length > 0 || r.unfinished.length > 0 || process.env['RELIABILITY_DUMP'] === '1')
    writeFileSync(`/tmp/reliability-${name}.json`, JSON.stringify({ violations: all, unfinished: r.unfinished, scripts: s.scripts, history: r.history, frames: s.playout.frames }));
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

void slow('pipeline: slow consumers — worker replicas SIGSTOPped for 1–6 s, 8 times, checkers clean (seed 11)', async () => {
  const run = await pipelineRun(11, (f) => f.pauseRandomWorkers(createRng(11), { count: 8, gapMs: [1500, 3000], pauseMs: [1000, 6000] }));
  assertClean('pipeline-slow-consumers', run);
  assert.equal(run.f.pauses, 8);
});
