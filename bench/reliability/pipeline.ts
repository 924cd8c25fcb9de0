// bench/reliability/pipeline: kill -9 of random replicas of EVERY service (orchestrator,
// rag-worker, tts-streamer, stt-adapter; a fresh replica replaces each victim) while seeded
// synthetic callers play calls through the real pipeline — most as events, a few speaking real
// audio — optionally with slow consumers (a random worker replica SIGSTOPped for a while, again
// and again). Then both checkers (sessions: turns in order, commands once, no reply to a
// cancelled turn, none stuck or lost; workers: answers once, audio once, no audio after a
// cancel, every final delivered), and the recovery after each kill (RECOVERY_DEFINITION, printed).
// The history, kill log and per-kill recoveries are written to /tmp/reliability-pipeline-<seed>.json.
// Run: node --import tsx bench/reliability/pipeline.ts [--seed 1] [--kills 100] [--pauses 0]
//        [--sessions 16] [--steps 12] [--audio-sessions 2] [--gap-ms 1500,3500] [--pause-ms 1000,6000]
//        [--logs <dir>] (every replica's output, killed ones too)
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { startNatsServer } from '@switchboard/testkit';
import { PipelineFaults, PipelineScenario, RECOVERY_DEFINITION, createRng, killRecoveries, lagFigures, recoveryFigures, summarizeViolations } from '../../tools/reliability/src/index';
import { fmt } from '../stats';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    kills: { type: 'string', default: '100' },
    pauses: { type: 'string', default: '0' },
    sessions: { type: 'string', default: '16' },
    steps: { type: 'string', default: '12' },
    'audio-sessions': { type: 'string', default: '2' },
    'audio-steps': { type: 'string', default: '6' },
    'gap-ms': { type: 'string', default: '1500,3500' },
    'pause-ms': { type: 'string', default: '1000,6000' },
    'budget-s': { type: 'string', default: '1500' },
    /** keep every replica's output (killed ones too) in this folder */
    logs: { type: 'string' },
  },
});
const SEED = Number(values.seed);
const KILLS = Number(values.kills);
const PAUSES = Number(values.pauses);
const range = (s: string): [number, number] => s.split(',').map(Number) as [number, number];
const [GAP_MIN, GAP_MAX] = range(values['gap-ms']!);
const [PAUSE_MIN, PAUSE_MAX] = range(values['pause-ms']!);

if (values.logs) mkdirSync(values.logs, { recursive: true });
const server = await startNatsServer();
const sc = new PipelineScenario({
  servers: server.url,
  seed: SEED,
  replicas: 3,
  startSpacingMs: 50,
  audioSessions: Number(values['audio-sessions']),
  audioSteps: Number(values['audio-steps']),
  ...(values.logs ? { logDir: values.logs } : {}),
  script: { sessions: Number(values.sessions), steps: [Math.ceil(Number(values.steps) * 0.8), Number(values.steps)], pauseMs: [800, 3000], bargeInRate: 0.2, supersedeRate: 0.1, hangUpRate: 0.2 },
});
const t0 = Date.now();
await sc.setUp();
process.stderr.write(`set up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${sc.sets().map((s) => `${s.service} ×${s.replicas.size}`).join(', ')}\n`);
const faults = new PipelineFaults(sc);
let finished = false;
const result = await sc.run(async () => {
  await Promise.all([
    faults.killRandomReplicas(createRng(SEED ^ 0xbe7c), {
      count: KILLS,
      gapMs: [GAP_MIN, GAP_MAX],
      stopped: () => finished,
      onProgress: (k, by, what) => {
        if (process.env['BENCH_DEBUG']) process.stderr.write(`${new Date().toISOString()} ${what}\n`);
        if (k % 10 === 0) process.stderr.write(`kills ${k}/${KILLS} ${JSON.stringify(by)}, finished calls ${sc.caller.finishedCount()}/${sc.scripts.length}\n`);
      },
    }),
    faults.pauseRandomWorkers(createRng(SEED ^ 0x51e9), { count: PAUSES, gapMs: [GAP_MIN, GAP_MAX], pauseMs: [PAUSE_MIN, PAUSE_MAX],
      stopped: () => finished,
      onProgress: (_, __, what) => void (process.env['BENCH_DEBUG'] && process.stderr.write(`${new Date().toISOString()} ${what}\n`)),
    }),
  ]);
}, Number(values['budget-s']) * 1000);
finished = true;
await faults.takeoversSettled();
const recoveries = killRecoveries(faults.killLog, { history: result.history, frames: sc.playout.frames, clips: sc.audio.clips, partitions: sc.partitions });

const c = result.check;
const w = result.workers;
const kills = faults.kills;
const crashes = sc.sets().flatMap((s) => s.crashes.map((x) => `${s.service}/${x.id} (code ${x.code})`));
console.log(`reliability bench (pipeline) — seed ${SEED}, ${sc.scripts.length} calls (${sc.scripts.filter((x) => x.audio).length} speaking real audio), ${sc.sets().map((s) => s.service).join(', ')}`);
console.log(`kills (kill -9)              ${kills}  ${JSON.stringify(faults.killsBy)}`);
console.log(`pauses (SIGSTOP ${PAUSE_MIN}–${PAUSE_MAX} ms)   ${faults.pauses}  ${JSON.stringify(faults.pausesBy)}`);
console.log(`replica crashes on their own ${crashes.length}${crashes.length ? `: ${crashes.join(', ')}` : ''}`);
console.log(`events / commands checked    ${c.eventsChecked} / ${c.commandsChecked}`);
console.log(`lost (events + commands)     ${c.lost}  (${c.lostEvents} + ${c.lostCommands})`);
console.log(`duplicated commands          ${c.duplicated}`);
console.log(`replies for cancelled turns  ${c.repliesForCancelledTurns}`);
console.log(`stuck sessions               ${c.stuck}, calls unfinished ${result.unfinished.length}`);
console.log(`rag: queries of live turns   ${w.ragQueries}, answered once ${w.ragAnswered}, errored back ${w.ragErrored}`);
console.log(`tts: speaks                  ${w.speaks}, frames checked ${w.framesChecked}, in flight at a cancel (≤1 s) ${w.framesAfterCancelInGrace}`);
console.log(`stt: finals                  ${w.finalsDelivered}/${w.finalsExpected} utterances said (${result.audioFramesSent} frames sent, ${result.audioLateTicks} late clock ticks)`);
console.log(`run                          ${(result.elapsedMs / 1000).toFixed(1)} s, publish retries ${result.publishRetries}`);
const ms = (x: number) => fmt(x, 0);
console.log(RECOVERY_DEFINITION);
for (const [service, f] of recoveryFigures(recoveries))
  console.log(`recovery ms ${service.padEnd(21)} p50 ${ms(f.p50)}  p99 ${ms(f.p99)}  max ${ms(f.max)}  (${f.withWork} of ${f.kills} kills caught work)`);
for (const service of ['session-orchestrator', 'stt-adapter']) {
  const ks = faults.killLog.filter((k) => k.service === service);
  if (ks.length === 0) continue;
  const t = lagFigures(ks.flatMap((k) => (k.takeoverMs === undefined ? [] : [k.takeoverMs])));
  console.log(`takeover ms ${service.padEnd(21)} p50 ${ms(t.p50)}  p99 ${ms(t.p99)}  max ${ms(t.max)}  (${t.n} of ${ks.length} kills; kill → every partition leased again, none by the victim)`);
}
const prog = lagFigures(recoveries.flatMap((r) => (r.progressMs === undefined ? [] : [r.progressMs])));
console.log(`progress ms orchestrator          p50 ${ms(prog.p50)}  p99 ${ms(prog.p99)}  max ${ms(prog.max)}  (n ${prog.n}; kill → first command for the victim's partitions, as bench/reliability/run.ts)`);
const all = [...c.violations, ...w.violations];
if (all.length > 0) console.log(summarizeViolations(all));
writeFileSync(
  `/tmp/reliability-pipeline-${SEED}.json`,
  JSON.stringify({ violations: all, unfinished: result.unfinished, scripts: sc.scripts, history: result.history, frames: sc.playout.frames, clips: sc.audio.clips, kills: faults.killLog, recoveries }),
);
if (result.unfinished.length > 0) console.log(`unfinished: ${JSON.stringify(result.unfinished.slice(0, 5))}`);
await sc.tearDown();
await server.stop();
process.exit(all.length === 0 && result.unfinished.length === 0 && kills === KILLS ? 0 : 1);
