// Orchestrator replicas under kill -9 and SIGSTOP/SIGCONT while a seeded synthetic caller plays
// 120 scripted sessions (utterances, pauses, barge-ins, superseding utterances, hang-ups).
// The checker over the recorded history must be clean.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Scenario, createRng, leaseOwners, summarizeViolations } from '@switchboard/reliability';
import { exclusiveTestFile } from '@switchboard/testkit';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const SEED = Number(process.env['RELIABILITY_SEED'] ?? 20240611);
const KILLS = Number(process.env['RELIABILITY_KILLS'] ?? 8);
const PAUSES = 2;

let server: NatsServerHandle | undefined;
let sc: Scenario | undefined;
after(async () => {
  await sc?.tearDown();
  await server?.stop();
});

test(`replicas: ${KILLS} × kill -9 and ${PAUSES} × SIGSTOP (2.5 s) of orchestrator replicas mid-run — checker clean (seed ${SEED})`, async () => {
  server = await startNatsServer();
  sc = new Scenario({ servers: server.url, seed: SEED, script: { sessions: 120, steps: [2, 4], pauseMs: [0, 300], bargeInRate: 0.25, supersedeRate: 0.15, hangUpRate: 0.25 }, replicas: 3 });
  await sc.setUp();
  const rng = createRng(SEED ^ 0x5eed);
  const takeovers: number[] = [];
  const r = await sc.run(async (s) => {
    for (let k = 0; k < KILLS + PAUSES; k++) {
      await new Promise((res) => setTimeout(res, rng.int(300, 900)));
      if (k % 5 === 4) {
        await s.orchestrators.pauseRandom(rng, 2500); // longer than the lease TTL: it loses its partitions while frozen
        continue;
      }
      const { victim, killedAt } = await s.orchestrators.killRandom(rng, { restart: true, waitReady: false });
      // takeover: no partition is held by the dead replica any more and all are held
      for (;;) {
        const owners = await leaseOwners(s.bus, 'orchestrator', s.partitions);
        if ([...owners.values()].every((o) => o !== undefined && o !== victim)) break;
        await new Promise((res) => setTimeout(res, 25));
      }
      takeovers.push(Date.now() - killedAt);
    }
  });
  const c = r.check;
  const sorted = [...takeovers].sort((a, b) => a - b);
  console.log(
    `# replicas: ${c.sessions} sessions, ${c.eventsChecked} events, ${c.commandsChecked} commands checked; ${KILLS} kill -9, ${PAUSES} pauses; ` +
      `lost ${c.lost}, duplicated ${c.duplicated}, replies for cancelled ${c.repliesForCancelledTurns}, stuck ${c.stuck}; ` +
      `takeover ms p50 ${sorted[Math.floor(sorted.length / 2)]} max ${sorted.at(-1)}; run ${r.elapsedMs} ms, publish retries ${r.publishRetries}`,
  );
  if (c.violations.length > 0) writeFileSync('/tmp/reliability-replicas.json', JSON.stringify({ violations: c.violations, history: r.history, scripts: sc.scripts }));
  assert.deepEqual(r.callerErrors, []);
  assert.deepEqual(sc.orchestrators.crashes, [], 'no replica crashed on its own');
  assert.equal(c.violations.length, 0, `${summarizeViolations(c.violations)}\nunfinished: ${JSON.stringify(r.unfinished.slice(0, 5))}`);
  assert.equal(r.unfinished.length, 0);
  assert.ok(c.commandsChecked > c.sessions * 5);
});
