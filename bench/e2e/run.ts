// End-to-end benchmark: N concurrent browser calls through the whole system (five services as
// processes on a private nats-server, Debian Chromium with a flite script as the microphone).
// Each call loops: "Hello world." → answer, "How do I reset my password?" → long answer cut by
// "Stop." (a barge-in). Reports voice-to-voice latency from the caller's real speech end (the last
// loud sample on the page's microphone track: the VAD hangover is inside the figure) to the first
// agent audio heard in the page, with its hops (→ SPEECH_ENDED → STT_FINAL → first audio sent),
// barge-in (caller onset → agent silent in the browser, both measured in the page) with its hops
// on the bus, the page's jitter-buffer delay, and the gateway's CPU per call (its Node process +
// its mediasoup worker, from /proc). Latency and CPU are over the same window, which starts 3 s after
// the last call opened; turns and barge-ins from before it (calls still being set up) are printed
// apart. Writes an HTML waterfall to bench/out/.
//   node --import tsx bench/e2e/run.ts [--calls 4] [--seconds 60] [--env stt-adapter:STT_COMPLETE_END_MS=0 …]
// All calls share Chromium's one fake microphone, so they speak at the same instants (worst case).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { launchBrowser, makeScriptWav, openCall, startStack, tempDir, view, type PageView } from '../../services/sfu-gateway/test/helpers/e2e-env';
import { bargeInChain, describeBargeIn, gatewayFlushes, startBusTrace, type BargeInChain, type BusTrace } from '../../services/sfu-gateway/test/helpers/bus-trace';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '60' },
    out: { type: 'string', default: 'bench/out' },
    /** `--env stt-adapter:STT_COMPLETE_END_MS=0` (repeatable): a service's variable, to compare settings. */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const serviceEnv: Record<string, Record<string, string>> = { 'sfu-gateway': { MEDIASOUP_WORKERS: '1' } };
for (const kv of values.env) {
  const m = /^([a-z-]+):([A-Z0-9_]+)=(.*)$/.exec(kv);
  if (!m) throw new Error(`--env ${kv}: expected service:NAME=value`);
  (serviceEnv[m[1]!] ??= {})[m[2]!] = m[3]!;
}
type Page = Awaited<ReturnType<typeof openCall>>;

const CALLS = Number(values.calls);
const SECONDS = Number(values.seconds);
const LOUD = 0.02;
const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return NaN;
  }
}

/** Machine-wide CPU ticks from /proc/stat: busy, idle (+iowait), steal (time the hypervisor gave our vCPUs to others). */
function machineTicks(): { busy: number; idle: number; steal: number } {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = v.map(Number) as [number, number, number, number, number, number, number, number];
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

/** Shares of the machine's CPU time over a window, in % (busy + idle + steal = 100). */
function machineShares(a: ReturnType<typeof machineTicks>, b: ReturnType<typeof machineTicks>): string {
  const busy = b.busy - a.busy;
  const idle = b.idle - a.idle;
  const steal = b.steal - a.steal;
  const all = busy + idle + steal || 1;
  return `busy ${((busy / all) * 100).toFixed(0)} %, idle ${((idle / all) * 100).toFixed(0)} %, steal ${((steal / all) * 100).toFixed(1)} %`;
}

const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

interface Row {
  call: number;
  /** What ended the caller's speech (the stt-adapter's 'stt: speech ended' line nearest SPEECH_ENDED). */
  endpoint?: string;
  /** Speech ended before the measured window: calls were still being opened (set-up, not steady state). */
  setup: boolean;
  /** The caller's final transcript of the turn, as the page showed it. */
  text?: string;
  marks: Record<string, number | undefined>;
  heard?: number;
  /** The caller's last loud mic sample (server clock). */
  realEnd?: number;
}

type Series = (readonly [number, number])[];
const series = (flat: number[]): Series => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!] as const);

async function pageLevels(page: Page): Promise<{ mic: Series; agent: Series; offset: number }> {
  const d = await page.evaluate(() => ({ mic: window.sb.levelsSince('mic', 0), agent: window.sb.levelsSince('agent', 0), offset: window.sb.clockOffsetMs }));
  return { mic: series(d.mic), agent: series(d.agent), offset: d.offset };
}

/** The caller's real speech end before a turn's SPEECH_ENDED (server clock): the last loud mic
 *  sample within the 1.5 s before it (the hangover is silence, so it is the end of the words). */
function realSpeechEnd(mic: Series, offset: number, speechEndedAt: number): number | undefined {
  let end: number | undefined;
  for (const [t, x] of mic) {
    const ts = t + offset;
    if (ts > speechEndedAt) break;
    if (ts >= speechEndedAt - 1500 && x > LOUD) end = ts;
  }
  return end;
}

async function bargeIns(page: Page, v: PageView, trace: BusTrace, flushes: { turnId: string; at: number }[]): Promise<BargeInChain[]> {
  const { mic, agent, offset } = await pageLevels(page);
  const d = { offset };
  const out: BargeInChain[] = [];
  const plays = v.playbacks;
  plays.forEach((p, i) => {
    if (p.interrupted !== true || p.heardAt === undefined || p.doneAt === undefined) return;
    const onset = mic.find(([t, x]) => t > p.heardAt! + 200 && t < p.doneAt! - d.offset && x > LOUD);
    if (!onset) return;
    const next = plays[i + 1];
    const end = next ? next.startedAt - d.offset : Infinity;
    const loud = agent.filter(([t, x]) => t >= onset[0] - 1000 && t < end && x > LOUD);
    if (!loud.length || !loud.some(([t]) => t < onset[0])) return;
    out.push(bargeInChain(trace, v.sessionId, onset[0] + offset, loud.at(-1)![0] + offset, flushes));
  });
  return out;
}

function html(rows: Row[], summary: Record<string, string | number>): string {
  const stages: [string, string, string, string][] = [
    ['hangover', 'realEnd', 'speechEnded', '#94a3b8'],
    ['stt', 'speechEnded', 'final', '#60a5fa'],
    ['rag', 'final', 'answer', '#a78bfa'],
    ['tts', 'answer', 'ttsStarted', '#f59e0b'],
    ['playout', 'ttsStarted', 'playbackStarted', '#34d399'],
    ['heard', 'playbackStarted', 'heard', '#f472b6'],
  ];
  const spans = rows.map((r) => {
    const m: Record<string, number | undefined> = { ...r.marks, heard: r.heard, realEnd: r.realEnd };
    const start = m['realEnd'] ?? m['speechEnded'] ?? m['final']!;
    return { r, m, start, total: (m['heard'] ?? m['playbackStarted'] ?? start) - start };
  });
  const scale = Math.max(500, ...spans.map((s) => s.total));
  const W = 640;
  const svgRows = spans
    .map(({ r, m, start, total }, i) => {
      const y = i * 18;
      const bars = stages
        .map(([name, a, b, color]) => {
          const x0 = m[a];
          const x1 = m[b];
          if (x0 === undefined || x1 === undefined || x1 < x0) return '';
          return `<rect x="${120 + ((x0 - start) / scale) * W}" y="${y + 2}" width="${Math.max(1, ((x1 - x0) / scale) * W)}" height="13" fill="${color}"><title>${name} ${Math.round(x1 - x0)} ms</title></rect>`;
        })
        .join('');
      return `<text x="0" y="${y + 13}" font-size="11">call ${r.call} turn ${i + 1}</text>${bars}<text x="${130 + W}" y="${y + 13}" font-size="11">${Math.round(total)} ms</text>`;
    })
    .join('\n');
  const table = Object.entries(summary)
    .map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Switchboard e2e bench</title>
<style>body{font:14px system-ui;margin:24px}th{text-align:left;padding-right:16px}i{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}</style></head><body>
<h1>Switchboard end-to-end: ${CALLS} browser call(s), ${SECONDS} s</h1>
<table>${table}</table>
<p><i style="background:#94a3b8"></i>speech end → SPEECH_ENDED (VAD hangover)<i style="background:#60a5fa"></i>→ STT final<i style="background:#a78bfa"></i>final → answer<i style="background:#f59e0b"></i>answer → TTS<i style="background:#34d399"></i>TTS → first audio sent<i style="background:#f472b6"></i>sent → heard in the browser</p>
<svg width="${W + 200}" height="${spans.length * 18 + 10}" xmlns="http://www.w3.org/2000/svg">${svgRows}</svg>
</body></html>`;
}

async function main(): Promise<void> {
  const loadStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const dir = tempDir('sb-bench-e2e-');
  const script = makeScriptWav(dir, [
    { silenceS: 3 },
    { say: 'Hello world.' },
    { silenceS: 9 },
    { say: 'How do I reset my password?' },
    { silenceS: 4.5 },
    { say: 'Stop.' },
    { silenceS: 10 },
  ]);
  const [stack, browser] = await Promise.all([startStack({ env: serviceEnv }), launchBrowser(script.wav)]);
  const trace = startBusTrace(stack.bus);
  try {
    const pages: Page[] = [];
    for (let i = 0; i < CALLS; i++) pages.push(await openCall(browser, stack.gatewayUrl, stack.callerToken(), '&rawmic=1'));
    const calls = ((await (await fetch(`${stack.gatewayUrl}/calls`)).json()) as { calls: { workerPid: number }[] }).calls;
    const pids = [stack.children.get('sfu-gateway')!.pid, ...new Set(calls.map((c) => c.workerPid))];
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    const before = pids.map(cpuTicks);
    const machineBefore = machineTicks();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const after = pids.map(cpuTicks);
    const machine = machineShares(machineBefore, machineTicks());
    const elapsedS = (Date.now() - t0) / 1000;
    const cpu = pids.map((_, i) => ((after[i]! - before[i]!) / CLK_TCK / elapsedS) * 100);

    const rows: Row[] = [];
    const chains: BargeInChain[] = [];
    const jitterMs: number[] = [];
    const flushes = gatewayFlushes(stack.logs('sfu-gateway'));
    const ends = speechEnds(stack.logs('stt-adapter'));
    let states = 0;
    for (const [i, p] of pages.entries()) {
      const v = await view(p);
      states += v.states.length;
      const { mic, offset } = await pageLevels(p);
      const said = (await p.evaluate(() => window.sb.transcript.filter((e) => e.role === 'caller' && e.final).map((e) => ({ text: e.text, at: e.at })))).map((e) => ({ text: e.text, at: e.at + offset }));
      for (const t of v.turns) {
        if (t.marks['playbackStarted'] === undefined) continue;
        const realEnd = t.marks['speechEnded'] === undefined ? undefined : realSpeechEnd(mic, offset, t.marks['speechEnded']);
        const text = said.find((e) => e.at >= t.marks['final']! - 50)?.text;
        const endpoint = t.marks['speechEnded'] === undefined ? undefined : nearestEnd(ends, v.sessionId, t.marks['speechEnded']);
        rows.push({ call: i + 1, setup: t.marks['speechEnded'] !== undefined && t.marks['speechEnded'] < t0, marks: t.marks, ...(endpoint === undefined ? {} : { endpoint }), ...(text === undefined ? {} : { text }), ...(t.heard === undefined ? {} : { heard: t.heard }), ...(realEnd === undefined ? {} : { realEnd }) });
      }
      chains.push(...(await bargeIns(p, v, trace, flushes)));
      const rs = (await p.evaluate(() => window.sb.recvStats())).find((r) => r.source === 'agent');
      if (rs) jitterMs.push((rs.jitterBufferDelay / Math.max(1, rs.jitterBufferEmittedCount)) * 1000);
    }
    // The figures are over the measured window (the CPU's too): turns and barge-ins whose speech
    // came while calls were still being opened are reported apart, not mixed into steady state.
    const setupRows = rows.filter((r) => r.setup && r.heard !== undefined && r.realEnd !== undefined);
    const setupChains = chains.filter((c) => c.pageOnset < t0);
    chains.splice(0, chains.length, ...chains.filter((c) => c.pageOnset >= t0));
    const v2v = rows.filter((r) => !r.setup).map((r) => r.marks['playbackStarted']! - r.marks['speechEnded']!).filter(Number.isFinite);
    const heardRows = rows.filter((r) => !r.setup && r.heard !== undefined && r.realEnd !== undefined);
    const real = heardRows.map((r) => r.heard! - r.realEnd!);
    const hop = (a: (r: Row) => number | undefined, b: (r: Row) => number | undefined): string => {
      const xs = heardRows.map((r) => b(r)! - a(r)!).filter(Number.isFinite);
      return `${f(pct(xs, 50))}/${f(pct(xs, 95))}`;
    };
    const barge = chains.map((c) => c.pageSilent - c.pageOnset);
    const bhop = (a: (c: BargeInChain) => number | undefined, b: (c: BargeInChain) => number | undefined): string => {
      const xs = chains.map((c) => b(c)! - a(c)!).filter(Number.isFinite);
      return `${f(pct(xs, 50))}/${f(pct(xs, 95))}`;
    };
    for (const c of chains) console.log(`barge-in: ${describeBargeIn(c)}`);
    // Per turn, in the waterfall's stages (ms): where one slow turn lost its time.
    for (const r of [...setupRows, ...heardRows]) {
      const m: Record<string, number | undefined> = { ...r.marks, realEnd: r.realEnd, heard: r.heard };
      const d = (a: string, b: string): string => f(m[b]! - m[a]!);
      console.log(
        `turn${r.setup ? ' (set-up)' : ''}: call ${r.call} ${f(r.heard! - r.realEnd!)} ms = hangover ${d('realEnd', 'speechEnded')} + stt ${d('speechEnded', 'final')} + rag ${d('final', 'answer')} + tts ${d('answer', 'ttsStarted')} + playout ${d('ttsStarted', 'playbackStarted')} + heard ${d('playbackStarted', 'heard')}  "${r.text ?? '?'}" [${r.endpoint ?? '?'}]`,
      );
    }
    const summary: Record<string, string | number> = {
      calls: CALLS,
      'service env': values.env.join(' ') || '(defaults)',
      'turns measured (heard)': `${v2v.length} (${real.length})`,
      'before the measured window, while calls were opened (not in the figures): turns, v2v p50 / max ms; barge-ins, max ms': `${setupRows.length}, ${f(pct(setupRows.map((r) => r.heard! - r.realEnd!), 50))} / ${f(Math.max(...setupRows.map((r) => r.heard! - r.realEnd!)))}; ${setupChains.length}, ${f(Math.max(...setupChains.map((c) => c.pageSilent - c.pageOnset)))}`,
      'voice-to-voice: real speech end → heard in browser p50 / p95 ms': `${f(pct(real, 50))} / ${f(pct(real, 95))}`,
      'hops p50/p95 ms: speech end → SPEECH_ENDED (hangover) | → STT_FINAL | → first audio sent | → heard': `${hop(
        (r) => r.realEnd,
        (r) => r.marks['speechEnded'],
      )} | ${hop((r) => r.marks['speechEnded'], (r) => r.marks['final'])} | ${hop((r) => r.marks['final'], (r) => r.marks['playbackStarted'])} | ${hop(
        (r) => r.marks['playbackStarted'],
        (r) => r.heard,
      )}`,
      'speech ended by (words = read complete early | hangover | other)': endpointCounts(heardRows),
      'SPEECH_ENDED → first audio sent p50 / p95 ms': `${f(pct(v2v, 50))} / ${f(pct(v2v, 95))}`,
      'barge-in (onset → agent silent in browser) n / p50 / p95 ms': `${barge.length} / ${f(pct(barge, 50))} / ${f(pct(barge, 95))}`,
      'barge-in hops p50/p95 ms: onset → gateway frame | → SPEECH_STARTED | → PLAYBACK_FLUSH | → applied at gateway | → silent in page': `${bhop(
        (c) => c.pageOnset,
        (c) => c.gatewayFrame,
      )} | ${bhop((c) => c.gatewayFrame, (c) => c.speechStarted?.at)} | ${bhop((c) => c.speechStarted?.at, (c) => c.flush?.at)} | ${bhop(
        (c) => c.flush?.at,
        (c) => c.gatewayFlush,
      )} | ${bhop((c) => c.gatewayFlush, (c) => c.pageSilent)}`,
      'page jitter buffer mean ms (p50 / max over calls)': `${f(pct(jitterMs, 50))} / ${f(Math.max(...jitterMs))}`,
      'gateway Node CPU % of a core (total / per call)': `${cpu[0]!.toFixed(1)} / ${(cpu[0]! / CALLS).toFixed(2)}`,
      'mediasoup worker CPU % (total / per call)': `${cpu.slice(1).reduce((a, b) => a + b, 0).toFixed(1)} / ${(cpu.slice(1).reduce((a, b) => a + b, 0) / CALLS).toFixed(2)}`,
      'gateway (Node + worker) CPU % of a core per call': ((cpu.reduce((a, b) => a + b, 0)) / CALLS).toFixed(2),
      'goals (v2v p50 ≤ 450, p95 ≤ 650; barge-in p95 ≤ 150)': `v2v p50 ${pct(real, 50) <= 450 ? 'met' : 'missed'}, p95 ${pct(real, 95) <= 650 ? 'met' : 'missed'}; barge-in p95 ${pct(barge, 95) <= 150 ? 'met' : 'missed'}`,
      'state changes seen by pages': states,
      // Steal is CPU our vCPUs were ready for but the host ran something else: a run with steal is slower for reasons outside the code.
      'machine CPU over the measured window (2 cores)': machine,
      'load average (1/5/15 min) at start → end': `${loadStart} → ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    };
    for (const [k, v] of Object.entries(summary)) console.log(`${k}: ${v}`);
    const outDir = resolve(values.out);
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `e2e-${CALLS}calls-${new Date().toISOString().replace(/[:.]/g, '-')}.html`);
    writeFileSync(file, html(rows, summary));
    console.log(`waterfall: ${file}`);
    const errors = stack.errorLines();
    if (errors.length) console.log(`error-level log lines: ${errors.length}\n${errors.slice(0, 5).map((e) => `${e.service}: ${JSON.stringify(e.line).slice(0, 300)}`).join('\n')}`);
  } finally {
    trace.stop();
    await browser.close().catch(() => undefined);
    await stack.stop();
  }
}

/** The stt-adapter's 'stt: speech ended' lines: what ended each utterance and the early final pass's fate. */
function speechEnds(lines: Record<string, unknown>[]): { sessionId: string; at: number; desc: string }[] {
  return lines
    .filter((l) => l['msg'] === 'stt: speech ended')
    .map((l) => {
      const early = l['earlyPassMs'] !== undefined ? `early pass ${f(Number(l['earlyPassMs']))} ms${l['readComplete'] === false ? ', read incomplete' : ''}` : l['earlyPending'] ? 'early pass still running' : 'no early pass';
      const dropped = Number(l['earlyDropped'] ?? 0) > 0 ? `, ${String(l['earlyDropped'])} dropped` : '';
      return { sessionId: String(l['sessionId']), at: Date.parse(String(l['time'])), desc: `${String(l['endpoint'])}: ${early}${dropped}` };
    });
}

function nearestEnd(ends: ReturnType<typeof speechEnds>, sessionId: string | undefined, at: number): string | undefined {
  let best: { d: number; desc: string } | undefined;
  for (const e of ends) {
    const d = Math.abs(e.at - at);
    if (e.sessionId === sessionId && d < 1000 && (!best || d < best.d)) best = { d, desc: e.desc };
  }
  return best?.desc;
}

function endpointCounts(rows: Row[]): string {
  const n = (k: string): number => rows.filter((r) => r.endpoint?.startsWith(`${k}:`)).length;
  return `${n('words')} | ${n('hangover')} | ${rows.length - n('words') - n('hangover')}`;
}

await main();
