// BM25F over articles (title, tags, questions, body) plus BM25 over each article's sentences for
// extraction. Own implementation rather than wink-bm25-text-search: we need per-field weights AND
// per-sentence scoring with the same idf, a prior boost for follow-ups, and a KB of any size
// (wink-bm25 refuses to consolidate fewer than 3 documents and cannot score passages separately).
import type { Analyzer, Lexicon, Token } from './analyzer';
import { createLexicon } from './analyzer';
import type { Article } from './kb';

type Field = 'title' | 'tags' | 'questions' | 'body';
const FIELDS: readonly Field[] = ['title', 'tags', 'questions', 'body'];
const FIELD_WEIGHT: Record<Field, number> = { title: 3, tags: 2, questions: 2, body: 1 };
const K1 = 1.2;
const B = 0.75;

interface DocEntry {
  article: Article;
  tf: Record<Field, Map<string, number>>;
  len: Record<Field, number>;
  sentenceTerms: Array<Map<string, number>>;
  sentenceLen: number[];
}

/** A weighted bag of query terms. Weight 1 = said by the caller now; less = expansion/context. */
export type WeightedQuery = Map<string, number>;

export interface SearchOptions {
  /** Multiply these articles' scores (follow-up questions lean on the previous answer's article). */
  boost?: ReadonlyMap<string, number>;
  limit?: number;
}

export interface Hit {
  id: string;
  score: number;
}

export interface SearchIndex {
  readonly articles: ReadonlyMap<string, Article>;
  readonly lexicon: Lexicon;
  readonly passageCount: number;
  idf(term: string): number;
  /** The idf a never-seen term would get: used to count unknown words against confidence. */
  readonly maxIdf: number;
  search(query: WeightedQuery, opts?: SearchOptions): Hit[];
  /** Which of the query's terms occur anywhere in the article. */
  matchedTerms(articleId: string, query: WeightedQuery): Set<string>;
  /** Terms of the article's title and tags: what the article is about as a whole. */
  topicTerms(articleId: string): ReadonlySet<string>;
  /** Terms of one sentence. */
  sentenceTerms(articleId: string, index: number): ReadonlyMap<string, number>;
  /** Sentence scores within one article (BM25 with the global idf), in document order. */
  scoreSentences(articleId: string, query: WeightedQuery): number[];
}

function count(tokens: readonly Token[], into = new Map<string, number>()): Map<string, number> {
  for (const t of tokens) if (!t.stop) into.set(t.term, (into.get(t.term) ?? 0) + 1);
  return into;
}

export function buildIndex(articles: readonly Article[], analyzer: Analyzer): SearchIndex {
  const docs: DocEntry[] = [];
  const df = new Map<string, number>();
  const lexiconTokens: Token[] = [];
  let passageCount = 0;
  for (const article of articles) {
    const fieldTokens: Record<Field, Token[]> = {
      // Titles and questions are phrased like a caller's question ("How long a refund takes"),
      // so they get the query-side cues: that is what the article answers.
      title: analyzer.terms(article.title, 'query'),
      tags: article.tags.flatMap((t) => analyzer.tokens(t)),
      questions: article.questions.flatMap((q) => analyzer.terms(q, 'query')),
      body: [],
    };
    const sentenceTerms: Array<Map<string, number>> = [];
    const sentenceLen: number[] = [];
    for (const s of article.sentences) {
      const toks = analyzer.terms(s.text, 'document');
      fieldTokens.body.push(...toks);
      const m = count(toks);
      sentenceTerms.push(m);
      sentenceLen.push([...m.values()].reduce((a, b) => a + b, 0));
      passageCount++;
    }
    const tf = {} as Record<Field, Map<string, number>>;
    const len = {} as Record<Field, number>;
    const seen = new Set<string>();
    for (const f of FIELDS) {
      tf[f] = count(fieldTokens[f]);
      len[f] = [...tf[f].values()].reduce((a, b) => a + b, 0);
      for (const term of tf[f].keys()) seen.add(term);
      lexiconTokens.push(...fieldTokens[f]);
    }
    for (const term of seen) df.set(term, (df.get(term) ?? 0) + 1);
    docs.push({ article, tf, len, sentenceTerms, sentenceLen });
  }

  const n = docs.length;
  const avgLen = {} as Record<Field, number>;
  for (const f of FIELDS) avgLen[f] = Math.max(1, docs.reduce((a, d) => a + d.len[f], 0) / Math.max(1, n));
  const allSentenceLens = docs.flatMap((d) => d.sentenceLen);
  const avgSentenceLen = Math.max(1, allSentenceLens.reduce((a, b) => a + b, 0) / Math.max(1, allSentenceLens.length));
  const idfOf = (d: number): number => Math.log(1 + (n - d + 0.5) / (d + 0.5));
  const maxIdf = idfOf(0);
  // Cue terms (__duration ...) say what KIND of answer is wanted; nearly every article has some,
  // so their df-based idf would be ~0. A fixed idf lets them pick the article that is about it.
  const CUE_IDF = 1.5;
  const idf = (term: string): number => {
    if (term.startsWith('__')) return CUE_IDF;
    const d = df.get(term);
    return d === undefined ? maxIdf : idfOf(d);
  };
  const byId = new Map(docs.map((d) => [d.article.id, d]));

  function scoreDoc(d: DocEntry, query: WeightedQuery): number {
    let score = 0;
    for (const [term, qw] of query) {
      if (!df.has(term)) continue;
      let tfw = 0;
      for (const f of FIELDS) {
        const tf = d.tf[f].get(term);
        if (tf !== undefined) tfw += (FIELD_WEIGHT[f] * tf) / (1 - B + (B * d.len[f]) / avgLen[f]);
      }
      if (tfw > 0) score += qw * idf(term) * (tfw / (K1 + tfw));
    }
    return score;
  }

  return {
    articles: new Map(docs.map((d) => [d.article.id, d.article])),
    lexicon: createLexicon(lexiconTokens),
    passageCount,
    idf,
    maxIdf,
    search(query, opts = {}) {
      const hits: Hit[] = [];
      for (const d of docs) {
        let score = scoreDoc(d, query);
        const boost = opts.boost?.get(d.article.id);
        if (boost !== undefined && score > 0) score *= boost;
        if (score > 0) hits.push({ id: d.article.id, score });
      }
      hits.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
      return hits.slice(0, opts.limit ?? 5);
    },
    matchedTerms(articleId, query) {
      const d = byId.get(articleId);
      const out = new Set<string>();
      if (!d) return out;
      for (const term of query.keys()) if (FIELDS.some((f) => d.tf[f].has(term))) out.add(term);
      return out;
    },
    topicTerms(articleId) {
      const d = byId.get(articleId);
      return new Set(d ? [...d.tf.title.keys(), ...d.tf.tags.keys()] : []);
    },
    sentenceTerms(articleId, i) {
      return byId.get(articleId)?.sentenceTerms[i] ?? new Map();
    },
    scoreSentences(articleId, query) {
      const d = byId.get(articleId);
      if (!d) return [];
      return d.sentenceTerms.map((tfs, i) => {
        let score = 0;
        const norm = 1 - B + (B * (d.sentenceLen[i] ?? 0)) / avgSentenceLen;
        for (const [term, qw] of query) {
          const tf = tfs.get(term);
          if (tf !== undefined) score += qw * idf(term) * ((tf * (K1 + 1)) / (tf + K1 * norm));
        }
        return score;
      });
    },
  };
}
