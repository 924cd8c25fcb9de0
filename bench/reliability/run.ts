// bench/reliability: many kill -9 of random orchestrator replicas (a fresh replica takes each
// victim's place) while a seeded synthetic caller plays long scripted calls; then the Jepsen-style
// checker over the whole history. Prints kills survived, events/commands checked, lost,
// duplicated, and recovery times: takeover (kill → every partition owned again, none by the
// victim) and progress (kill → the first command for a session of the victim's partitions).
// Run: node --import tsx bench/reliability/run.ts [--seed 1] [--kills 100] [--sessions 60] [--steps 60] [--replicas 3]
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { startNatsServer } from '@switchboard/testkit';
import { Scenario, awaitTakeover, createRng, firstCommandAfter, leaseOwners, partitionsOf, summarizeViolations } from '../../tools/reliability/src/index';
import { summarize, fmt } from '../stats';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    kills: { type: 'string', default: '100' },
    sessions: { type: 'string', default: '60' },
    steps: { type: 'string', default: '60' },
    replicas: { type: 'string', default: '3' },
    'lease-ttl': { type: 'string', default: '1000' },
  },
});
const SEED = Number(values.seed);
const KILLS = Number(values.kills);
const SESSIONS = Number(values.sessions);
const STEPS = Number(values.steps);
const REPLICAS = Number(values.replicas);
const TTL = Number(values['lease-ttl']);

const server = await startNatsServer();
const sc = new Scenario({
  servers: server.url,
  seed: SEED,
  leaseTtlMs: TTL,
  replicas: REPLICAS,
  startSpacingMs: 5,
  script: { sessions: SESSIONS, steps: [Math.ceil(STEPS * 0.8), STEPS], pauseMs: [300, 2500], bargeInRate: 0.2, supersedeRate: 0.1, hangUpRate: 0.2 },
});
await sc.setUp();
const rng = createRng(SEED ^ 0xbe7c);
const takeover: number[] = [];
const progress: number[] = [];
let survived = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const result = await sc.run(async (s) => {
  for (let k = 0; k < KILLS; k++) {
    await sleep(rng.int(200, 800));
    const before = await leaseOwners(s.bus, 'orchestrator', s.partitions);
    const { victim, killedAt } = await s.orchestrators.killRandom(rng, { restart: true, waitReady: false });
    const victimParts = new Set(partitionsOf(before, victim));
    const mark = s.recorder.commands.length;
    const [took, moved] = await Promise.all([
      awaitTakeover(s.bus, 'orchestrator', s.partitions, victim, killedAt),
      (async () => {
        while (Date.now() < killedAt + 30_000) {
          const c = firstCommandAfter(s.recorder.commands, killedAt, victimParts, s.partitions, mark);
          if (c) return c.time - killedAt;
          await sleep(20);
        }
        return undefined;
      })(),
    ]);
    if (took !== undefined) {
      takeover.push(took);
      survived++;
    }
    if (moved !== undefined) progress.push(moved);
    if ((k + 1) % 10 === 0) process.stderr.write(`kills ${k + 1}/${KILLS}, finished calls ${s.caller.finishedCount()}/${SESSIONS}\n`);
  }
}, 30 * 60_000);

const c = result.check;
const t = summarize(takeover);
const p = summarize(progress);
console.log(`reliability bench — seed ${SEED}, ${REPLICAS} orchestrator replicas, ${SESSIONS} calls × ~${STEPS} steps, lease TTL ${TTL} ms`);
console.log(`kills (kill -9) survived     ${survived}/${KILLS}  (replica crashes on their own: ${sc.orchestrators.crashes.length})`);
console.log(`events checked               ${c.eventsChecked}`);
console.log(`commands checked             ${c.commandsChecked}`);
console.log(`lost (events + commands)     ${c.lost}  (${c.lostEvents} + ${c.lostCommands})`);
console.log(`duplicated                   ${c.duplicated}`);
console.log(`replies for cancelled turns  ${c.repliesForCancelledTurns}`);
console.log(`stuck sessions               ${c.stuck}`);
console.log(`calls unfinished             ${result.unfinished.length}`);
console.log(`recovery: takeover ms        p50 ${fmt(t.p50, 0)}  p99 ${fmt(t.p99, 0)}  max ${fmt(t.max, 0)}  (n ${t.n})`);
console.log(`recovery: progress ms        p50 ${fmt(p.p50, 0)}  p99 ${fmt(p.p99, 0)}  max ${fmt(p.max, 0)}  (n ${p.n})`);
console.log(`run                          ${(result.elapsedMs / 1000).toFixed(1)} s, publish retries ${result.publishRetries}`);
if (c.violations.length > 0) {
  console.log(summarizeViolations(c.violations));
  writeFileSync(`/tmp/reliability-bench-${SEED}.json`, JSON.stringify({ violations: c.violations, history: result.history, scripts: sc.scripts }));
}
await sc.tearDown();
await server.stop();
process.exit(c.violations.length === 0 && survived === KILLS ? 0 : 1);
