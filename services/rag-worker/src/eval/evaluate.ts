// Runs the eval set through an engine: intent accuracy, article top-1, and latency to the first
// partial and to the final answer. Shared by bench/rag/run.ts and the accuracy test.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { RagEngine } from '../engine/engine';
import { INTENTS, type AnswerResult } from '../engine/types';

export const DEFAULT_EVAL_SET = fileURLToPath(new URL('../../eval/eval-set.json', import.meta.url));

const evalSetSchema = z.object({
  items: z.array(
    z.object({
      text: z.string(),
      intent: z.enum(INTENTS),
      articleId: z.string().nullable(),
      history: z
        .array(z.object({ userText: z.string(), agentText: z.string(), intent: z.string(), sourceIds: z.array(z.string()) }))
        .optional(),
    }),
  ),
});
export type EvalItem = z.infer<typeof evalSetSchema>['items'][number];

export async function loadEvalSet(path = DEFAULT_EVAL_SET): Promise<EvalItem[]> {
  return evalSetSchema.parse(JSON.parse(await readFile(path, 'utf8'))).items;
}

export interface EvalMiss {
  text: string;
  expected: { intent: string; articleId: string | null };
  got: { intent: string; sourceIds: string[]; clarify: boolean; confidence: number };
}

export interface EvalReport {
  items: number;
  intentAccuracy: number;
  articleItems: number;
  articleTop1: number;
  firstPartialMs: { p50: number; p99: number; max: number };
  finalMs: { p50: number; p99: number; max: number };
  misses: EvalMiss[];
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

export async function evaluate(engine: RagEngine, items: readonly EvalItem[], opts: { rounds?: number; warmup?: number } = {}): Promise<EvalReport> {
  const rounds = opts.rounds ?? 1;
  // Warm-up: JIT and caches, as a long-running worker would be.
  for (let w = 0; w < (opts.warmup ?? 1); w++) for (const it of items) for await (const _ of engine.answer({ text: it.text, history: it.history ?? [] }));

  const first: number[] = [];
  const final: number[] = [];
  let intentOk = 0;
  let articleOk = 0;
  let articleItems = 0;
  const misses: EvalMiss[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const it of items) {
      const t0 = performance.now();
      let tFirst = -1;
      let result: AnswerResult | undefined;
      for await (const ev of engine.answer({ text: it.text, history: it.history ?? [] })) {
        if (ev.type === 'partial' && tFirst < 0) tFirst = performance.now() - t0;
        if (ev.type === 'final') result = ev.result;
      }
      const tFinal = performance.now() - t0;
      first.push(tFirst < 0 ? tFinal : tFirst);
      final.push(tFinal);
      if (r > 0 || !result) continue;
      const iOk = result.intent === it.intent;
      const aOk = it.articleId === null || (!result.clarify && result.sourceIds[0] === it.articleId);
      if (iOk) intentOk++;
      if (it.articleId !== null) {
        articleItems++;
        if (aOk) articleOk++;
      }
      if (!iOk || !aOk) {
        misses.push({
          text: it.text,
          expected: { intent: it.intent, articleId: it.articleId },
          got: { intent: result.intent, sourceIds: result.sourceIds, clarify: result.clarify, confidence: result.confidence },
        });
      }
    }
  }
  first.sort((a, b) => a - b);
  final.sort((a, b) => a - b);
  return {
    items: items.length,
    intentAccuracy: intentOk / items.length,
    articleItems,
    articleTop1: articleItems === 0 ? 1 : articleOk / articleItems,
    firstPartialMs: { p50: round(quantile(first, 0.5)), p99: round(quantile(first, 0.99)), max: round(first[first.length - 1] ?? 0) },
    finalMs: { p50: round(quantile(final, 0.5)), p99: round(quantile(final, 0.99)), max: round(final[final.length - 1] ?? 0) },
    misses,
  };
}
