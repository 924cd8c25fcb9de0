// Intent classification: nearest training phrase by tf-idf cosine over words AND word pairs.
// Stop words are kept on purpose: "no", "yes", "bye", "what" carry the intent of short turns.
// faq_question is trained on generic question frames plus every KB article's title and
// questions, so a new KB teaches the classifier its own topics.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Analyzer, Lexicon, Token } from './analyzer';
import { createLexicon } from './analyzer';
import type { Article } from './kb';
import { INTENTS, type Intent } from './types';

export interface IntentScore {
  intent: Intent;
  score: number;
}

export interface IntentResult {
  /** Best intent; `score` is its cosine similarity to the nearest training phrase (0..1). */
  intent: Intent;
  score: number;
  /** Best score per intent, best first. */
  ranking: IntentScore[];
  /**
   * Whether the best intent's phrases share a content word with the text (not only "to", "an",
   * "the"): "to an internationally" (a misheard "do you ship internationally") is close to
   * "speak to an agent" by its function words alone, which must not carry an action.
   */
  grounded: boolean;
}

export interface IntentClassifier {
  classify(text: string): IntentResult;
  readonly phraseCount: number;
}

export type TrainingPhrases = Partial<Record<Intent, string[]>>;

const intentsFileSchema = z.object({
  intents: z.partialRecord(z.enum(INTENTS), z.array(z.string().min(1))),
});

export async function loadIntentPhrases(path: string): Promise<TrainingPhrases> {
  const raw: unknown = JSON.parse(await readFile(path, 'utf8'));
  return intentsFileSchema.parse(raw).intents;
}

function features(tokens: readonly Token[]): Map<string, number> {
  const f = new Map<string, number>();
  const add = (k: string): void => {
    f.set(k, (f.get(k) ?? 0) + 1);
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    add(t.term);
    const next = tokens[i + 1];
    if (next) add(`${t.term} ${next.term}`);
  }
  return f;
}

interface PhraseVec {
  intent: Intent;
  vec: Map<string, number>;
}

export function buildIntentClassifier(
  phrases: TrainingPhrases,
  articles: readonly Article[],
  analyzer: Analyzer,
): IntentClassifier {
  const all: Array<{ intent: Intent; text: string }> = [];
  for (const intent of INTENTS) for (const text of phrases[intent] ?? []) all.push({ intent, text });
  for (const a of articles) {
    all.push({ intent: 'faq_question', text: a.title });
    for (const q of a.questions) all.push({ intent: 'faq_question', text: q });
  }

  const tokenized = all.map((p) => ({ intent: p.intent, tokens: analyzer.tokens(p.text) }));
  const lexicon: Lexicon = createLexicon(tokenized.flatMap((p) => p.tokens));
  const df = new Map<string, number>();
  const raw = tokenized.map((p) => ({ intent: p.intent, f: features(p.tokens) }));
  for (const p of raw) for (const k of p.f.keys()) df.set(k, (df.get(k) ?? 0) + 1);
  const n = raw.length;
  const idf = (k: string): number => Math.log(1 + n / (df.get(k) ?? 0.5));

  // Words no training phrase uses ("funny" in "tell me a funny joke") still dilute the match,
  // but less than known words: callers pad requests with detail the phrases never list.
  const OOV_UNIGRAM = 0.5;
  const OOV_BIGRAM = 0.25;
  const weigh = (f: Map<string, number>): Map<string, number> => {
    const v = new Map<string, number>();
    let norm = 0;
    for (const [k, tf] of f) {
      const oov = df.has(k) ? 1 : k.includes(' ') ? OOV_BIGRAM : OOV_UNIGRAM;
      const w = (1 + Math.log(tf)) * idf(k) * oov;
      v.set(k, w);
      norm += w * w;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [k, w] of v) v.set(k, w / norm);
    return v;
  };
  const vecs: PhraseVec[] = raw.map((p) => ({ intent: p.intent, vec: weigh(p.f) }));
  // Inverted index: feature → phrases containing it, so a query touches only candidate phrases.
  const postings = new Map<string, Array<{ phrase: number; w: number }>>();
  vecs.forEach((p, i) => {
    for (const [k, w] of p.vec) {
      let list = postings.get(k);
      if (!list) postings.set(k, (list = []));
      list.push({ phrase: i, w });
    }
  });

  // Each intent's centroid: what its phrases share ("talk", "person", "agent"), so one short
  // phrase that happens to share "i want a" cannot carry an unrelated request on its own.
  const centroids = new Map<Intent, Map<string, number>>();
  for (const p of vecs) {
    let c = centroids.get(p.intent);
    if (!c) centroids.set(p.intent, (c = new Map()));
    for (const [k, w] of p.vec) c.set(k, (c.get(k) ?? 0) + w);
  }
  for (const c of centroids.values()) {
    const norm = Math.sqrt([...c.values()].reduce((a, w) => a + w * w, 0)) || 1;
    for (const [k, w] of c) c.set(k, w / norm);
  }
  const KNN_WEIGHT = 0.7;

  function classify(text: string): IntentResult {
    const tokens = lexicon.correct(analyzer.tokens(text));
    const q = weigh(features(tokens));
    const contentTerms = new Set(tokens.filter((t) => !t.stop).map((t) => t.term));
    const dots = new Float64Array(vecs.length);
    for (const [k, w] of q) for (const p of postings.get(k) ?? []) dots[p.phrase]! += w * p.w;
    const best = new Map<Intent, number>();
    for (let i = 0; i < vecs.length; i++) {
      const s = dots[i]!;
      const intent = vecs[i]!.intent;
      if (s > (best.get(intent) ?? 0)) best.set(intent, s);
    }
    const centroidCos = (intent: Intent): number => {
      const c = centroids.get(intent);
      if (!c) return 0;
      let dot = 0;
      for (const [k, w] of q) dot += w * (c.get(k) ?? 0);
      return dot;
    };
    const ranking = INTENTS.map((intent) => ({
      intent,
      score: KNN_WEIGHT * (best.get(intent) ?? 0) + (1 - KNN_WEIGHT) * centroidCos(intent),
    })).sort((a, b) => b.score - a.score);
    const top = ranking[0]!;
    const intent = top.score > 0 ? top.intent : 'out_of_scope';
    const grounded = [...q.keys()].some(
      (k) => k.split(' ').some((term) => contentTerms.has(term)) && (postings.get(k) ?? []).some((p) => vecs[p.phrase]!.intent === intent),
    );
    return { intent, score: top.score, ranking, grounded };
  }

  return { classify, phraseCount: vecs.length };
}
