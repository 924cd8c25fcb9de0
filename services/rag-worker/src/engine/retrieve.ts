// Query building (with follow-up context), article search, confidence and passage extraction.
// Pure functions over an immutable SearchIndex.
import { normalizeText, type Analyzer } from './analyzer';
import type { Hit, SearchIndex, WeightedQuery } from './retriever';
import { DEFAULT_EXPANSIONS, type Expansion } from './synonyms';
import type { HistoryTurn } from './types';

export interface RetrievalTuning {
  /** Weight of the previous caller turn's words in a follow-up query. */
  contextWeight: number;
  /** Score multiplier for the previous answer's article in a follow-up. */
  followUpBoost: number;
  /** Weight of derived cue terms (__money, __duration, __clock) and synonym expansions. */
  cueWeight: number;
  /** Words the index has never seen count this much (of their idf) against confidence. */
  unknownWordWeight: number;
  /** Minimum confidence of a follow-up that stays on the previous article. */
  followUpFloor: number;
}

export const DEFAULT_RETRIEVAL_TUNING: RetrievalTuning = {
  contextWeight: 0.5,
  followUpBoost: 1.25,
  cueWeight: 0.6,
  unknownWordWeight: 0.3,
  followUpFloor: 0.5,
};

export interface Retrieval {
  hits: Hit[];
  /** 0..1: how much of what the caller said (idf-weighted) the top article covers, times how clearly it wins. */
  confidence: number;
  coverage: number;
  query: WeightedQuery;
  followUp: boolean;
  /** Caller's own content terms (after STT-error repair). */
  ownTerms: string[];
}

const ANAPHORA = /\b(it|that|this|those|these|them|they|there|one|ones)\b/;
const CONTINUATION = /^(and|also|so|but|what about|how about|what if|then)\b/;

export function retrieve(
  index: SearchIndex,
  analyzer: Analyzer,
  text: string,
  history: readonly HistoryTurn[],
  tuning: RetrievalTuning = DEFAULT_RETRIEVAL_TUNING,
  expansions: readonly Expansion[] = DEFAULT_EXPANSIONS,
): Retrieval {
  const { query, ownTerms } = buildQuery(index, analyzer, text, tuning, expansions);
  const alone = search(index, query, new Map(), tuning);

  // A short or anaphoric turn right after an answer ("and how long does that take?") is about
  // the same topic: borrow the previous caller turn's words and favour the previous article.
  // Shortness alone is weaker evidence: "what are your opening hours" after a password answer
  // is a new question, so a short turn with no anaphora or continuation stays on its own when
  // by itself it clearly finds another article.
  const prev = history[history.length - 1];
  const lowered = text.normalize('NFC').toLowerCase().trim();
  const prevId = prev?.sourceIds[0];
  const prevArticle = prevId === undefined ? undefined : index.articles.get(prevId);
  const linked = ANAPHORA.test(lowered) || CONTINUATION.test(lowered);
  const standsAlone = alone.hits[0] !== undefined && alone.hits[0].id !== prevId && alone.confidence >= tuning.followUpFloor;
  const followUp =
    prev !== undefined &&
    prevArticle !== undefined &&
    ownTerms.length <= 4 &&
    (linked || (ownTerms.length <= 2 && !standsAlone));
  if (!followUp || !prev || prevId === undefined || !prevArticle) return { ...alone, query, followUp: false, ownTerms };

  // The topic carried over is what the previous answer was about: the words of its article's
  // title and tags that the caller used (or, if none, the title's). Other words of the previous
  // turn ("I sent back a pair of shoes") would drag the search back to the same article.
  const topic = new Set(
    [prevArticle.title, ...prevArticle.tags].flatMap((s) => analyzer.tokens(s)).filter((t) => !t.stop).map((t) => t.term),
  );
  const prevTerms = [...buildQuery(index, analyzer, prev.userText, tuning, expansions).query.keys()].filter((t) => topic.has(t));
  const carried = prevTerms.length > 0 ? prevTerms : analyzer.tokens(prevArticle.title).filter((t) => !t.stop).map((t) => t.term);
  const withContext: WeightedQuery = new Map(query);
  for (const term of carried) if (!withContext.has(term)) withContext.set(term, tuning.contextWeight);
  const r = search(index, withContext, new Map([[prevId, tuning.followUpBoost]]), tuning);
  // Staying on the previous answer's topic is what a follow-up is expected to do.
  const confidence = r.hits[0]?.id === prevId ? Math.max(r.confidence, tuning.followUpFloor) : r.confidence;
  return { ...r, confidence, query: withContext, followUp: true, ownTerms };
}

/** Searches and rates the top article: how much of the query it covers, and how clearly it wins. */
function search(index: SearchIndex, query: WeightedQuery, boost: Map<string, number>, tuning: RetrievalTuning): Pick<Retrieval, 'hits' | 'confidence' | 'coverage'> {
  const hits = index.search(query, { boost, limit: 5 });
  const top = hits[0];
  if (!top) return { hits, confidence: 0, coverage: 0 };
  const matched = index.matchedTerms(top.id, query);
  let said = 0;
  let covered = 0;
  for (const [term, w] of query) {
    if (term.startsWith('__')) continue;
    const weight = w * index.idf(term) * (index.lexicon.has(term) ? 1 : tuning.unknownWordWeight);
    said += weight;
    if (matched.has(term)) covered += weight;
  }
  const coverage = said > 0 ? covered / said : 0;
  // A close runner-up means the question could be about either article.
  const second = hits[1]?.score ?? 0;
  const margin = top.score > 0 ? (top.score - second) / top.score : 0;
  return { hits, confidence: coverage * (0.75 + 0.25 * Math.min(1, margin * 2)), coverage };
}

function buildQuery(
  index: SearchIndex,
  analyzer: Analyzer,
  text: string,
  tuning: RetrievalTuning,
  expansions: readonly Expansion[],
): { query: WeightedQuery; ownTerms: string[] } {
  const tokens = index.lexicon.correct(analyzer.terms(text, 'query'));
  const query: WeightedQuery = new Map();
  const ownTerms: string[] = [];
  for (const t of tokens) {
    if (t.stop) continue;
    const isCue = t.term.startsWith('__');
    if (!isCue && !ownTerms.includes(t.term)) ownTerms.push(t.term);
    query.set(t.term, Math.max(query.get(t.term) ?? 0, isCue ? tuning.cueWeight : 1));
  }
  const normalized = normalizeText(text);
  for (const [re, words] of expansions) {
    if (!re.test(normalized)) continue;
    for (const t of analyzer.tokens(words)) if (!t.stop && !query.has(t.term)) query.set(t.term, tuning.cueWeight);
  }
  return { query, ownTerms };
}

export interface ExtractOptions {
  maxSentences: number;
  maxWords: number;
}

/** The best sentences of one article for this query, in document order, within a spoken budget. */
export function selectPassages(index: SearchIndex, articleId: string, query: WeightedQuery, opts: ExtractOptions): string[] {
  const article = index.articles.get(articleId);
  if (!article || article.sentences.length === 0) return [];
  const scores = index.scoreSentences(articleId, query);
  const words = (i: number): number => article.sentences[i]!.text.split(/\s+/).length;
  let best = 0;
  for (let i = 1; i < scores.length; i++) if ((scores[i] ?? 0) > (scores[best] ?? 0)) best = i;
  const bestScore = scores[best] ?? 0;

  const chosen = new Set<number>();
  let budget = opts.maxWords;
  const take = (i: number): boolean => {
    if (chosen.has(i) || chosen.size >= opts.maxSentences || i < 0 || i >= article.sentences.length) return false;
    if (chosen.size > 0 && words(i) > budget) return false;
    chosen.add(i);
    budget -= words(i);
    return true;
  };

  // A query that only names the article's topic ("my table came cracked" → damaged item) is
  // answered by the article's opening, which says what to do; a query that asks for a detail
  // the title does not name ("how long is the link valid") is answered by that detail.
  const topic = index.topicTerms(articleId);
  const bestTerms = index.sentenceTerms(articleId, best);
  const specific = [...query.keys()].some((t) => bestTerms.has(t) && !topic.has(t));
  if (bestScore <= 0 || !specific) {
    take(0);
    if (article.sentences[1]?.paragraph === article.sentences[0]?.paragraph) take(1);
  } else {
    take(best);
    // Other sentences that answer the same question well.
    const ranked = scores.map((s, i) => ({ s, i })).filter((x) => x.i !== best && x.s >= 0.6 * bestScore).sort((a, b) => b.s - a.s);
    for (const r of ranked.slice(0, 1)) take(r.i);
    // The next sentence of the same paragraph usually completes the instruction.
    const next = best + 1;
    if (article.sentences[next]?.paragraph === article.sentences[best]?.paragraph) take(next);
  }
  return [...chosen].sort((a, b) => a - b).map((i) => article.sentences[i]!.text);
}
