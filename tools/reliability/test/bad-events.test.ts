// 10 000 raw bad events (malformed JSON, oversized, invalid UTF-8, unknown session, body naming
// another session than the subject, duplicates, out of order) injected onto the event subjects
// of live sessions while 40 scripted sessions play. Every bad event ends where it must (DLQ with
// its reason, or dropped by the stream's dedup), the orchestrators never crash, the good sessions
// are unaffected (checker clean), and unknown-session rejections log the active sessions.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { exclusiveTestFile, startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { Scenario, countBy, injectBadEvents, readDlq, summarizeViolations, type Injected } from '@switchboard/reliability';

// timing-sensitive (a flood / a node kill with lease TTLs of 1 s): never beside another such file
await exclusiveTestFile();

const SEED = Number(process.env['RELIABILITY_SEED'] ?? 777);
const COUNT = Number(process.env['RELIABILITY_BAD_EVENTS'] ?? 10_000);

let server: NatsServerHandle | undefined;
let sc: Scenario | undefined;
after(async () => {
  await sc?.tearDown();
  await server?.stop();
});

void test(`${COUNT} raw bad events: all dead-lettered with their reason or deduped; good sessions unaffected (seed ${SEED})`, async () => {
  server = await startNatsServer();
  sc = new Scenario({ servers: server.url, seed: SEED, script: { sessions: 40, steps: [3, 5], pauseMs: [100, 600], bargeInRate: 0.2, supersedeRate: 0.1, hangUpRate: 0 }, replicas: 2, env: { LOG_LEVEL: process.env['RELIABILITY_LOG_LEVEL'] ?? 'info' } });
  await sc.setUp();
  let injected: Injected[] = [];
  const r = await sc.run(async (s) => {
    // wait until the calls are under way, then flood their subjects
    while (s.recorder.events.length < 200) await new Promise((res) => setTimeout(res, 50));
    injected = await injectBadEvents(s.bus, {
      count: COUNT,
      seed: SEED,
      goodSessions: s.scripts.map((x) => x.sessionId),
      realEvents: s.recorder.events.flatMap((e) => (e.event ? [e.event] : [])),
      concurrency: 32,
    });
  }, 150_000);
  const c = r.check;

  // Every injected message has its fate.
  const expectDlq = injected.filter((i) => i.expect !== 'deduped' && i.expect !== 'applied');
  const dlq = await (async () => {
    const until = Date.now() + 60_000;
    for (;;) {
      const all = await readDlq(sc!.bus);
      const got = new Set(all.map((d) => d.seq));
      if (expectDlq.every((i) => got.has(i.seq)) || Date.now() > until) return all;
      await new Promise((res) => setTimeout(res, 500));
    }
  })();
  const bySeq = new Map(dlq.map((d) => [d.seq, d]));
  const wrong = injected.filter((i) => (i.expect === 'deduped' ? !i.duplicate : i.expect === 'applied' ? bySeq.has(i.seq) : bySeq.get(i.seq)?.reason !== i.expect));
  const byKind = countBy(injected, (i) => i.kind);
  const byReason = countBy(dlq.filter((d) => injected.some((i) => i.seq === d.seq)), (d) => d.reason);
  console.log(`# bad-events: injected ${injected.length} ${JSON.stringify(byKind)}; DLQ by reason ${JSON.stringify(byReason)}; deduped ${injected.filter((i) => i.duplicate).length}; misplaced ${wrong.length}`);
  console.log(`# bad-events: good sessions ${c.sessions}, ${c.eventsChecked} events, ${c.commandsChecked} commands checked; lost ${c.lost}, duplicated ${c.duplicated}, stuck ${c.stuck}; run ${r.elapsedMs} ms`);

  if (c.violations.length > 0 || wrong.length > 0 || process.env['RELIABILITY_DUMP'] === '1') {
    writeFileSync('/tmp/reliability-bad-events.json', JSON.stringify({ violations: c.violations, wrong, history: r.history, scripts: sc.scripts, injected, dlq }));
    writeFileSync('/tmp/reliability-bad-events-logs.txt', [...sc.orchestrators.replicas.values()].flatMap((x) => x.child.lines.map((l) => `${x.id} ${l}`)).join('\n'));
  }
  assert.equal(injected.length, COUNT);
  assert.deepEqual(
    wrong.slice(0, 5).map((i) => ({ kind: i.kind, expect: i.expect, got: i.duplicate ? 'deduped' : (bySeq.get(i.seq)?.reason ?? 'not in DLQ'), detail: bySeq.get(i.seq)?.detail })),
    [],
    `${wrong.length} bad events did not end where they must`,
  );
  assert.deepEqual(sc.orchestrators.crashes.map((x) => x.id), [], 'no orchestrator crashed');
  assert.equal(c.violations.length, 0, `${summarizeViolations(c.violations)}\nunfinished: ${JSON.stringify(r.unfinished.slice(0, 5))}`);
  assert.equal(r.unfinished.length, 0);
  const unknown = sc.orchestrators.logLines().filter((l) => l['msg'] === 'event for unknown session rejected');
  assert.ok(unknown.length > 0, 'unknown-session rejections are logged');
  const good = new Set(sc.scripts.map((x) => x.sessionId));
  assert.ok(unknown.every((l) => Array.isArray(l['activeSessions']) && typeof l['activeCount'] === 'number'), 'each lists the active sessions');
  assert.ok(unknown.some((l) => (l['activeSessions'] as string[]).some((s) => good.has(s))), 'the live calls are among the active sessions listed');
});
