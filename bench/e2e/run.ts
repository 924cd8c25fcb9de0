// End-to-end benchmark: N concurrent browser calls through the whole system (five services as
// processes on a private nats-server, Debian Chromium with a flite script as the microphone).
// Each call loops: "Hello world." → answer, "How do I reset my password?" → long answer cut by
// "Stop." (a barge-in). Reports voice-to-voice latency (speech end → first agent audio sent, from
// the orchestrator's marks; and → first audio heard in the page), barge-in (caller onset → agent
// silent in the browser, both measured in the page), and the gateway's CPU per call (its Node
// process + its mediasoup worker, from /proc). Writes an HTML waterfall to bench/out/.
//   node --import tsx bench/e2e/run.ts [--calls 4] [--seconds 60]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { launchBrowser, makeScriptWav, openCall, startStack, tempDir, view, type PageView } from '../../services/sfu-gateway/test/helpers/e2e-env';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '4' }, seconds: { type: 'string', default: '60' }, out: { type: 'string', default: 'bench/out' } } });
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

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

interface Row {
  call: number;
  marks: Record<string, number | undefined>;
  heard?: number;
}

async function bargeIns(page: Page, v: PageView): Promise<number[]> {
  const d = await page.evaluate(() => ({ mic: window.sb.levelsSince('mic', 0), agent: window.sb.levelsSince('agent', 0), offset: window.sb.clockOffsetMs }));
  const series = (flat: number[]) => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!] as const);
  const mic = series(d.mic);
  const agent = series(d.agent);
  const out: number[] = [];
  const plays = v.playbacks;
  plays.forEach((p, i) => {
    if (p.interrupted !== true || p.heardAt === undefined || p.doneAt === undefined) return;
    const onset = mic.find(([t, x]) => t > p.heardAt! + 200 && t < p.doneAt! - d.offset && x > LOUD);
    if (!onset) return;
    const next = plays[i + 1];
    const end = next ? next.startedAt - d.offset : Infinity;
    const loud = agent.filter(([t, x]) => t >= onset[0] - 1000 && t < end && x > LOUD);
    if (!loud.length || !loud.some(([t]) => t < onset[0])) return;
    out.push(loud.at(-1)![0] - onset[0]);
  });
  return out;
}

function html(rows: Row[], summary: Record<string, string | number>): string {
  const stages: [string, string, string, string][] = [
    ['stt', 'speechEnded', 'final', '#60a5fa'],
    ['rag', 'final', 'answer', '#a78bfa'],
    ['tts', 'answer', 'ttsStarted', '#f59e0b'],
    ['playout', 'ttsStarted', 'playbackStarted', '#34d399'],
    ['heard', 'playbackStarted', 'heard', '#f472b6'],
  ];
  const spans = rows.map((r) => {
    const m: Record<string, number | undefined> = { ...r.marks, heard: r.heard };
    const start = m['speechEnded'] ?? m['final']!;
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
<p><i style="background:#60a5fa"></i>speech end → STT final<i style="background:#a78bfa"></i>final → answer<i style="background:#f59e0b"></i>answer → TTS<i style="background:#34d399"></i>TTS → first audio sent<i style="background:#f472b6"></i>sent → heard in the browser</p>
<svg width="${W + 200}" height="${spans.length * 18 + 10}" xmlns="http://www.w3.org/2000/svg">${svgRows}</svg>
</body></html>`;
}

async function main(): Promise<void> {
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
  const [stack, browser] = await Promise.all([startStack({ env: { 'sfu-gateway': { MEDIASOUP_WORKERS: '1' } } }), launchBrowser(script.wav)]);
  try {
    const pages: Page[] = [];
    for (let i = 0; i < CALLS; i++) pages.push(await openCall(browser, stack.gatewayUrl, stack.callerToken(), '&rawmic=1'));
    const calls = ((await (await fetch(`${stack.gatewayUrl}/calls`)).json()) as { calls: { workerPid: number }[] }).calls;
    const pids = [stack.children.get('sfu-gateway')!.pid, ...new Set(calls.map((c) => c.workerPid))];
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    const before = pids.map(cpuTicks);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const after = pids.map(cpuTicks);
    const elapsedS = (Date.now() - t0) / 1000;
    const cpu = pids.map((_, i) => ((after[i]! - before[i]!) / CLK_TCK / elapsedS) * 100);

    const rows: Row[] = [];
    const barge: number[] = [];
    let states = 0;
    for (const [i, p] of pages.entries()) {
      const v = await view(p);
      states += v.states.length;
      for (const t of v.turns) if (t.marks['playbackStarted'] !== undefined) rows.push({ call: i + 1, marks: t.marks, ...(t.heard === undefined ? {} : { heard: t.heard }) });
      barge.push(...(await bargeIns(p, v)));
    }
    const v2v = rows.map((r) => r.marks['playbackStarted']! - r.marks['speechEnded']!).filter(Number.isFinite);
    const v2heard = rows.filter((r) => r.heard !== undefined).map((r) => r.heard! - r.marks['speechEnded']!).filter(Number.isFinite);
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
    const summary: Record<string, string | number> = {
      calls: CALLS,
      'turns measured': v2v.length,
      'voice-to-voice (speech end → first audio sent) p50 / p95 ms': `${f(pct(v2v, 50))} / ${f(pct(v2v, 95))}`,
      'speech end → heard in browser p50 / p95 ms': `${f(pct(v2heard, 50))} / ${f(pct(v2heard, 95))}`,
      'barge-in (onset → agent silent in browser) n / p50 / p95 ms': `${barge.length} / ${f(pct(barge, 50))} / ${f(pct(barge, 95))}`,
      'gateway Node CPU % of a core (total / per call)': `${cpu[0]!.toFixed(1)} / ${(cpu[0]! / CALLS).toFixed(2)}`,
      'mediasoup worker CPU % (total / per call)': `${cpu.slice(1).reduce((a, b) => a + b, 0).toFixed(1)} / ${(cpu.slice(1).reduce((a, b) => a + b, 0) / CALLS).toFixed(2)}`,
      'state changes seen by pages': states,
      'load average (1 min) at end': readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!,
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
    await browser.close().catch(() => undefined);
    await stack.stop();
  }
}

await main();
