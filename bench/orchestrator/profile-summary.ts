// Summarises V8 CPU profiles (.cpuprofile, e.g. from BENCH_CPU_PROF=<dir> of run.ts): self time
// by package/file and by function, and inclusive time of the functions named with --focus, so
// "where does the CPU per decision go" is answered from the profile of the orchestrator alone.
//
// Run: node --import tsx bench/orchestrator/profile-summary.ts <file.cpuprofile>... [--top 30]
//        [--focus reduce,structuredClone,save,publishCommand,withSpan]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    focus: { type: 'string', default: '' },
  },
});
const TOP = Number(values.top);
const focus = values.focus.split(',').filter(Boolean);

/** Where a frame's code lives: a workspace package/file, a node_modules package, or the runtime. */
function place(url: string): string {
  if (!url) return '(native/runtime)';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const m = /\/(libs|services|bench)\/(.+)$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : url;
}

const self = new Map<string, number>();
const byPlace = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const hit = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    hit.set(p.samples[i]!, (hit.get(p.samples[i]!) ?? 0) + dt);
  }
  for (const [id, us] of hit) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    if (f.functionName === '(idle)') continue;
    total += us;
    const key = `${f.functionName || '(anonymous)'} ${place(f.url)}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + us);
    byPlace.set(place(f.url), (byPlace.get(place(f.url)) ?? 0) + us);
    // inclusive: count each focus name once per sample stack
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = byId.get(cur)!.callFrame.functionName;
      for (const fn of focus) if (name === fn && !seen.has(fn)) seen.add(fn);
    }
    for (const fn of seen) inclusive.set(fn, (inclusive.get(fn) ?? 0) + us);
  }
}

const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms`;
const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP);
console.log(`busy CPU in profile(s): ${(total / 1000).toFixed(0)} ms`);
console.log('\nself time by package / file:');
for (const [k, v] of top(byPlace)) console.log(`  ${pct(v)}  ${k}`);
console.log('\nself time by function:');
for (const [k, v] of top(self)) console.log(`  ${pct(v)}  ${k}`);
if (focus.length) {
  console.log('\ninclusive time (function anywhere on the stack):');
  for (const fn of focus) console.log(`  ${pct(inclusive.get(fn) ?? 0)}  ${fn}`);
}
