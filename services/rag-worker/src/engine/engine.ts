// The RAG engine: owns the current KB snapshot (index + classifier), re-indexes on change, and
// answers queries as a stream of events. Intent and retrieval run as two parallel async steps.
import { watch, type FSWatcher } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseRagConfig, type RagConfig, type RagConfigInput } from '../config';
import { createOpenAiProvider } from '../llm/openai-provider';
import { createExtractiveProvider, type AnswerProvider } from '../llm/provider';
import { createAnalyzer, type Analyzer } from './analyzer';
import { createSentenceChunker } from './chunker';
import { decide, type Decision } from './decide';
import { buildIntentClassifier, loadIntentPhrases, type IntentClassifier, type IntentResult, type TrainingPhrases } from './intent';
import { loadKb } from './kb';
import { DEFAULT_REPLIES, type Replies } from './replies';
import { retrieve, selectPassages, type Retrieval } from './retrieve';
import { buildIndex, type SearchIndex } from './retriever';
import { shortenSentence, verbalize } from './speech';
import type { AnswerEvent, AnswerQuery, AnswerResult, IndexStats } from './types';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type StepTrace = { step: 'intent' | 'retrieval'; phase: 'start' | 'end'; at: number };

export interface RagEngineDeps {
  log?: Logger;
  /** Replace the configured provider (tests, or a custom model). */
  provider?: AnswerProvider;
  replies?: Replies;
  /** Observes the parallel steps (tests prove both start before either ends). */
  onStep?: (trace: StepTrace) => void;
  onReindex?: (stats: IndexStats) => void;
}

export interface RagEngine {
  /**
   * Answers one caller turn. Yields `intent` once, then `partial` sentences as soon as each is
   * ready, then one `final`. If `query.signal` aborts, iteration stops and throws the signal's
   * reason; nothing more is yielded.
   */
  answer(query: AnswerQuery): AsyncIterable<AnswerEvent>;
  /** Re-reads the KB folder now (also done automatically on change when `watch` is on). */
  reindex(): Promise<IndexStats>;
  stats(): IndexStats;
  close(): Promise<void>;
}

export class RagError extends Error {
  readonly code: 'closed';
  readonly retryable = false;
  constructor(code: 'closed', message: string) {
    super(message);
    this.name = 'RagError';
    this.code = code;
  }
}

interface Snapshot {
  index: SearchIndex;
  classifier: IntentClassifier;
  stats: IndexStats;
}

const NOOP_LOG: Logger = { info() {}, warn() {}, error() {} };

export async function createRagEngine(configInput?: RagConfigInput, deps: RagEngineDeps = {}): Promise<RagEngine> {
  const config: RagConfig = parseRagConfig(configInput);
  const log = deps.log ?? NOOP_LOG;
  const replies = deps.replies ?? DEFAULT_REPLIES;
  const analyzer: Analyzer = createAnalyzer();
  const phrases: TrainingPhrases = await loadIntentPhrases(config.intentsPath);
  const extractive = createExtractiveProvider();
  const provider: AnswerProvider =
    deps.provider ??
    (config.provider.kind === 'openai' ? createOpenAiProvider({ ...config.provider, companyName: config.companyName }) : extractive);
  const fallback = config.provider.kind === 'openai' ? config.provider.fallbackToExtractive : true;

  let version = 0;
  async function build(): Promise<Snapshot> {
    const articles = await loadKb(config.kbDir);
    const index = buildIndex(articles, analyzer);
    const classifier = buildIntentClassifier(phrases, articles, analyzer);
    version++;
    return {
      index,
      classifier,
      stats: { articles: articles.length, passages: index.passageCount, version, kbDir: config.kbDir, indexedAt: Date.now() },
    };
  }

  let current = await build();
  let closed = false;
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  // Re-indexes are serialised: a change during a rebuild schedules exactly one more.
  let rebuilding: Promise<IndexStats> | undefined;
  let dirty = false;

  async function reindex(): Promise<IndexStats> {
    if (rebuilding) {
      dirty = true;
      return rebuilding;
    }
    rebuilding = (async () => {
      try {
        do {
          dirty = false;
          try {
            current = await build();
            log.info({ ...current.stats }, 'kb indexed');
            deps.onReindex?.(current.stats);
          } catch (err) {
            // A broken edit must not take answering down: keep serving the last good index.
            log.warn({ err, kbDir: config.kbDir }, 'kb re-index failed; keeping the previous index');
            if (!dirty) throw err;
          }
        } while (dirty && !closed);
        return current.stats;
      } finally {
        rebuilding = undefined;
      }
    })();
    return rebuilding;
  }

  if (config.watch) {
    watcher = watch(config.kbDir, { recursive: true }, () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        if (!closed) reindex().catch(() => undefined);
      }, config.watchDebounceMs);
    });
    watcher.on('error', (err) => log.warn({ err }, 'kb watcher error'));
  }

  async function* answer(query: AnswerQuery): AsyncGenerator<AnswerEvent> {
    if (closed) throw new RagError('closed', 'rag engine is closed');
    const t0 = performance.now();
    const signal = query.signal ?? new AbortController().signal;
    signal.throwIfAborted();
    const snap = current; // one consistent index for the whole turn, even if a re-index lands
    const history = config.historyTurns === 0 ? [] : (query.history ?? []).slice(-config.historyTurns);
    const text = query.text;
    const timings = { intentMs: 0, retrievalMs: 0, firstPartialMs: 0, totalMs: 0 };
    const trace = (step: StepTrace['step'], phase: StepTrace['phase']): void => deps.onStep?.({ step, phase, at: performance.now() });

    // Both steps yield once before working, so each has started before either finishes; a
    // remote classifier or retriever would slot in here without changing the shape.
    const intentStep = async (): Promise<IntentResult | undefined> => {
      if (query.skipIntent) return undefined;
      trace('intent', 'start');
      await Promise.resolve();
      signal.throwIfAborted();
      const s = performance.now();
      const r = snap.classifier.classify(text);
      timings.intentMs = performance.now() - s;
      trace('intent', 'end');
      return r;
    };
    const retrievalStep = async (): Promise<Retrieval> => {
      trace('retrieval', 'start');
      await Promise.resolve();
      signal.throwIfAborted();
      const s = performance.now();
      const r = retrieve(snap.index, analyzer, text, history, config.retrieval);
      timings.retrievalMs = performance.now() - s;
      trace('retrieval', 'end');
      return r;
    };
    const [intent, retrieval] = await Promise.all([intentStep(), retrievalStep()]);
    signal.throwIfAborted();

    const decision: Decision = decide({
      intent,
      retrieval,
      history,
      thresholds: config.thresholds,
      replies,
      titleOf: (id) => snap.index.articles.get(id)?.title,
    });
    yield { type: 'intent', intent: decision.intent, confidence: decision.confidence };
    signal.throwIfAborted();

    const spoken: string[] = [];
    const emit = (sentence: string): AnswerEvent[] => {
      const events: AnswerEvent[] = [];
      for (const part of shortenSentence(sentence)) {
        const said = verbalize(part);
        if (said === '') continue;
        if (spoken.length === 0) timings.firstPartialMs = performance.now() - t0;
        events.push({ type: 'partial', index: spoken.length, text: said });
        spoken.push(said);
      }
      return events;
    };

    let providerName = 'template';
    let sourceIds: string[] = [];
    let clarify = false;
    let escalate = false;
    if (decision.kind === 'reply') {
      for (const s of decision.sentences) {
        for (const ev of emit(s)) {
          signal.throwIfAborted();
          yield ev;
        }
      }
      sourceIds = decision.sourceIds;
      clarify = decision.clarify;
      escalate = decision.escalate;
    } else {
      sourceIds = [decision.articleId];
      const article = snap.index.articles.get(decision.articleId)!;
      const prev = history[history.length - 1];
      // A "yes" to "is your question about X?" is answered with the words of the question before it.
      const basis = decision.useQuery === 'previous' && prev ? retrieve(snap.index, analyzer, prev.userText, []).query : retrieval.query;
      const passages = selectPassages(snap.index, article.id, basis, { maxSentences: config.maxSentences, maxWords: config.maxWords });
      const req = {
        query: decision.useQuery === 'previous' && prev ? prev.userText : text,
        history,
        article: { id: article.id, title: article.title },
        passages,
        articleText: article.sentences.map((s) => s.text),
        signal,
        ...(query.language !== undefined ? { language: query.language } : {}),
      };
      const run = async function* (p: AnswerProvider): AsyncGenerator<AnswerEvent> {
        const chunker = createSentenceChunker();
        for await (const delta of p.generate(req)) {
          signal.throwIfAborted();
          for (const s of chunker.push(delta)) for (const ev of emit(s)) yield ev;
        }
        for (const s of chunker.flush()) for (const ev of emit(s)) yield ev;
      };
      providerName = provider.name;
      try {
        for await (const ev of run(provider)) {
          signal.throwIfAborted();
          yield ev;
        }
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (spoken.length > 0 || !fallback || provider === extractive) {
          // Words already spoken cannot be unsaid: end the turn with what was said.
          log.error(
            { err, provider: provider.name, partials: spoken.length },
            spoken.length > 0 ? 'answer provider failed mid-answer; the turn ends with what was said' : 'answer provider failed',
          );
          if (spoken.length === 0) throw err;
        } else {
          log.warn({ err, provider: provider.name }, 'answer provider failed; answering extractively');
          providerName = 'extractive-fallback';
          for await (const ev of run(extractive)) {
            signal.throwIfAborted();
            yield ev;
          }
        }
      }
    }

    signal.throwIfAborted();
    timings.totalMs = performance.now() - t0;
    const result: AnswerResult = {
      text: spoken.join(' '),
      intent: decision.intent,
      confidence: Math.round(decision.confidence * 1000) / 1000,
      sourceIds,
      clarify,
      escalate,
      provider: providerName,
      query: text,
      timings,
    };
    yield { type: 'final', result };
  }

  return {
    answer,
    reindex,
    stats: () => current.stats,
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(debounce);
      watcher?.close();
      await rebuilding?.catch(() => undefined);
    },
  };
}

/** Runs a query to completion and returns the final result (for callers that need no streaming). */
export async function answerToResult(engine: RagEngine, query: AnswerQuery, onPartial?: (text: string, index: number) => void): Promise<AnswerResult> {
  for await (const ev of engine.answer(query)) {
    if (ev.type === 'partial') onPartial?.(ev.text, ev.index);
    if (ev.type === 'final') return ev.result;
  }
  throw new Error('answer stream ended without a final result');
}
