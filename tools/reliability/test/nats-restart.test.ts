// The NATS server (single node, file store) restarts twice mid-run — once gracefully, once after
// kill -9 — while 3 orchestrator replicas serve 80 scripted sessions. Every client must reconnect
// and carry on; the checker over the recorded history must be clean.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Scenario, summarizeViolations } from '@switchboard/reliability';
import { exclusiveTestFile } from '@switchboard/testkit';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const SEED = Number(process.env['RELIABILITY_SEED'] ?? 424242);

let server: NatsServerHandle | undefined;
let sc: Scenario | undefined;
after(async () => {
  await sc?.tearDown();
  await server?.stop();
});

test(`NATS server restart (graceful, then kill -9) mid-run: services reconnect, checker clean (seed ${SEED})`, async () => {
  server = await startNatsServer();
  const srv = server;
  sc = new Scenario({ servers: srv.url, seed: SEED, script: { sessions: 80, steps: [3, 5], pauseMs: [50, 400], bargeInRate: 0.25, supersedeRate: 0.15, hangUpRate: 0.2 }, replicas: 3, startSpacingMs: 10 });
  await sc.setUp();
  const outages: number[] = [];
  const r = await sc.run(async () => {
    await new Promise((res) => setTimeout(res, 2000));
    let t = Date.now();
    await srv.restart();
    outages.push(Date.now() - t);
    await new Promise((res) => setTimeout(res, 3000));
    t = Date.now();
    await srv.kill('SIGKILL');
    await srv.restart();
    outages.push(Date.now() - t);
  }, 120_000);
  const c = r.check;
  console.log(
    `# nats-restart: ${c.sessions} sessions, ${c.eventsChecked} events, ${c.commandsChecked} commands checked; 2 restarts (outage ms ${outages.join(', ')}); ` +
      `lost ${c.lost}, duplicated ${c.duplicated}, replies for cancelled ${c.repliesForCancelledTurns}, stuck ${c.stuck}; run ${r.elapsedMs} ms, publish retries ${r.publishRetries}`,
  );
  // progress timeline: commands per second since the start (shows how long the outages stalled the calls)
  const t0 = Math.min(...r.history.commands.map((x) => x.time));
  const perSec = new Map<number, number>();
  for (const x of r.history.commands) perSec.set(Math.floor((x.time - t0) / 1000), (perSec.get(Math.floor((x.time - t0) / 1000)) ?? 0) + 1);
  console.log(`# commands per second: ${[...perSec].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ')}`);
  if (c.violations.length > 0) writeFileSync('/tmp/reliability-nats-restart.json', JSON.stringify({ violations: c.violations, history: r.history, scripts: sc.scripts }));
  if (c.violations.length > 0) writeFileSync('/tmp/reliability-logs.txt', [...sc.orchestrators.replicas.values()].flatMap((x) => x.child.lines).join('\n'));
  assert.deepEqual(r.callerErrors, []);
  assert.deepEqual(sc.orchestrators.crashes.map((x) => x.id), [], 'no replica crashed');
  assert.equal(c.violations.length, 0, `${summarizeViolations(c.violations)}\nunfinished: ${JSON.stringify(r.unfinished.slice(0, 5))}`);
  assert.equal(r.unfinished.length, 0);
  assert.ok(r.publishRetries > 0, 'the caller did see the outage (publishes retried)');
});
