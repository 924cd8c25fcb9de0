// The orchestrator exactly as services/session-orchestrator/src/main.ts runs it, plus a probe
// for the benchmark: on SIGUSR2 it collects garbage twice and prints its memory and CPU time
// (`bench-probe {...}` on stderr), so heap per session and CPU per event are read from the
// orchestrator process alone (CPU without the probes' own GCs). With BENCH_CPU_PROF=<dir> it also writes a V8 CPU profile of
// each interval between probes (<dir>/orchestrator-<n>.cpuprofile).
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import v8 from 'node:v8';
import vm from 'node:vm';
import { monitorEventLoopDelay } from 'node:perf_hooks';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const profDir = process.env['BENCH_CPU_PROF'];
const inspector = profDir ? new Session() : undefined;
const post = (method: string) =>
  new Promise<unknown>((resolve, reject) => inspector!.post(method, (err, res) => (err ? reject(err) : resolve(res))));
if (inspector && profDir) {
  mkdirSync(profDir, { recursive: true });
  inspector.connect();
  await post('Profiler.enable');
  await post('Profiler.start');
}

// Event-loop delay between probes (what a stalled loop does to lease renewals and latency).
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

let n = 0;
/** CPU the probes' own forced GCs took so far: not the orchestrator's work, left out of the CPU reported. */
const probeGc = { user: 0, system: 0 };
process.on('SIGUSR2', () => {
  n++;
  const k = n;
  const report = () => {
    const before = process.cpuUsage();
    const delay = { max: loopDelay.max / 1e6, p99: loopDelay.percentile(99) / 1e6 };
    loopDelay.reset();
    gc();
    gc();
    const m = process.memoryUsage();
    const spent = process.cpuUsage(before);
    probeGc.user += spent.user;
    probeGc.system += spent.system;
    const c = process.cpuUsage();
    process.stderr.write(`bench-probe ${JSON.stringify({ n: k, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, cpuUserUs: c.user - probeGc.user, cpuSystemUs: c.system - probeGc.system, loopDelayMaxMs: delay.max, loopDelayP99Ms: delay.p99 })}\n`);
  };
  if (!inspector || !profDir) return report();
  void post('Profiler.stop')
    .then((res) => writeFileSync(`${profDir}/orchestrator-${k}.cpuprofile`, JSON.stringify((res as { profile: unknown }).profile)))
    .then(() => post('Profiler.start'))
    .finally(report);
});

await import('../../services/session-orchestrator/src/main');
