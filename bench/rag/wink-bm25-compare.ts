// Compares wink-bm25-text-search with the engine's own BM25F on the eval set's article top-1,
// both fed by the same analyzer (wink-nlp stems, same stop words). Documents why the engine
// uses its own index. Run: node --import tsx bench/rag/wink-bm25-compare.ts
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { createAnalyzer } from '../../services/rag-worker/src/engine/analyzer';
import { loadKb } from '../../services/rag-worker/src/engine/kb';
import { buildIndex } from '../../services/rag-worker/src/engine/retriever';
import { retrieve } from '../../services/rag-worker/src/engine/retrieve';
import { DEFAULT_KB_DIR } from '../../services/rag-worker/src/config';
import { loadEvalSet } from '../../services/rag-worker/src/eval/evaluate';

interface WinkBm25 {
  defineConfig(c: object): void;
  definePrepTasks(t: Array<(s: string) => string[]>): void;
  addDoc(doc: object, id: string): void;
  consolidate(): void;
  search(q: string, limit?: number): Array<[string, number]>;
}
const require = createRequire(new URL('../../services/rag-worker/package.json', import.meta.url));
const bm25Factory = require('wink-bm25-text-search') as () => WinkBm25;

const analyzer = createAnalyzer();
const articles = await loadKb(DEFAULT_KB_DIR);
const items = (await loadEvalSet()).filter((i) => i.articleId !== null && !i.history);

const wink = bm25Factory();
wink.defineConfig({ fldWeights: { title: 3, tags: 2, questions: 2, body: 1 } });
wink.definePrepTasks([(s: string) => analyzer.tokens(s).filter((t) => !t.stop).map((t) => t.term)]);
for (const a of articles) {
  wink.addDoc({ title: a.title, tags: a.tags.join(' '), questions: a.questions.join(' '), body: a.sentences.map((s) => s.text).join(' ') }, a.id);
}
wink.consolidate();
const own = buildIndex(articles, analyzer);

let winkOk = 0;
let ownOk = 0;
let winkMs = 0;
let ownMs = 0;
for (const it of items) {
  let t = performance.now();
  const w = wink.search(it.text, 1)[0]?.[0];
  winkMs += performance.now() - t;
  t = performance.now();
  const o = retrieve(own, analyzer, it.text, []).hits[0]?.id;
  ownMs += performance.now() - t;
  if (w === it.articleId) winkOk++;
  if (o === it.articleId) ownOk++;
}
const pct = (n: number): string => `${((n / items.length) * 100).toFixed(1)} %`;
console.log(`${items.length} single-turn eval questions, retrieval only (top-1 regardless of confidence)`);
console.log(`wink-bm25-text-search  top-1 ${pct(winkOk)}  mean ${(winkMs / items.length).toFixed(3)} ms/query`);
console.log(`own BM25F + expansions top-1 ${pct(ownOk)}  mean ${(ownMs / items.length).toFixed(3)} ms/query`);
