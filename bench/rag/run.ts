// RAG engine benchmark: accuracy on the eval set and latency to first partial / final answer.
// Run: node --import tsx bench/rag/run.ts [--rounds N] [--misses] [--json] [--set path/to/set.json]
// (services/rag-worker/eval/holdout-set.json is the held-out set: never used for tuning).
import { createRagEngine } from '../../services/rag-worker/src/index';
import { evaluate, loadEvalSet } from '../../services/rag-worker/src/eval/evaluate';

// `run.ts | head` closes stdout early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

const args = process.argv.slice(2);
const roundsArg = args.indexOf('--rounds');
const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : 20;
const setArg = args.indexOf('--set');
const setPath = setArg >= 0 ? args[setArg + 1] : undefined;

const engine = await createRagEngine({ watch: false });
try {
  const items = await loadEvalSet(setPath);
  const report = await evaluate(engine, items, { rounds, warmup: 2 });
  if (args.includes('--json')) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
    const stats = engine.stats();
    console.log(`kb: ${stats.articles} articles, ${stats.passages} passages; eval: ${report.items} utterances (${report.articleItems} with an expected article); ${rounds} timed rounds`);
    console.log(`intent accuracy     ${pct(report.intentAccuracy)}   (goal >= 90 %)`);
    console.log(`article top-1       ${pct(report.articleTop1)}   (goal >= 85 %)`);
    console.log(`first partial  ms   p50 ${report.firstPartialMs.p50}  p99 ${report.firstPartialMs.p99}  max ${report.firstPartialMs.max}`);
    console.log(`final answer   ms   p50 ${report.finalMs.p50}  p99 ${report.finalMs.p99}  max ${report.finalMs.max}   (goal p99 <= 20 ms)`);
    if (args.includes('--misses')) for (const m of report.misses) console.log('miss', JSON.stringify(m));
    else console.log(`${report.misses.length} misses (--misses lists them)`);
  }
} finally {
  await engine.close();
}
