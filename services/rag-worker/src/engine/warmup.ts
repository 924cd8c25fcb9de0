// Start-up warm-up: a fresh engine answers its first queries several times slower than later
// ones (V8 compiles the answer path — analyzer, classifier, BM25, decide, sentence shaping — only
// after it has run a few times). Running a bounded set of typical caller phrasings through the
// same `engine.answer()` before the service reports ready moves that cost off the first call.
// Stateless by construction: no history, no signal but the caller's, nothing kept.
import { performance } from 'node:perf_hooks';
import type { RagEngine } from './engine';

/**
 * Typical first turns of a call: greetings, questions on the sample KB's topics (some in STT
 * style, one with a split compound and one misheard word, so the lexicon repair runs), the
 * social intents, and a few that end in a clarifying question or out of scope.
 */
export const WARMUP_PHRASES: readonly string[] = [
  'hello world',
  'hi there can you hear me',
  'how do I reset my password',
  'where is my order',
  'stop',
  'I want to talk to a human',
  'can I get a refund',
  'how long does shipping take',
  'how much does delivery cost',
  'what are your opening hours',
  'my package never arrived',
  'I was charged twice',
  'how do I return an item',
  'my payment was declined',
  'can I change my order',
  'I forgot my pass word',
  'how do I cancel my order',
  'the item arrived damaged',
  'do you ship internationally',
  'how do I use a promo code',
  'I got the wrong item',
  'my account is locked',
  'can I change my email address',
  'how do I trekking my parcel',
  'what payment methods do you accept',
  'is there a warranty',
  'yes please',
  'no',
  'can you repeat that',
  'what is the weather like today',
  'the thing with the stuff',
  'thanks bye',
];

export interface WarmUpOptions {
  /** How many queries to run (cycling through `phrases`); 0 = none. */
  queries: number;
  /** Stop starting new queries once this much time has passed (checked between queries). */
  budgetMs: number;
  /** Abort (e.g. the service stopping during start-up). */
  signal?: AbortSignal;
  phrases?: readonly string[];
}

export interface WarmUpResult {
  /** Queries answered to their final event. */
  count: number;
  ms: number;
  /** 'done': all `queries` ran; 'budget': stopped at the time budget; 'aborted': by `signal`. */
  stopped: 'done' | 'budget' | 'aborted';
}

/**
 * Answers up to `opts.queries` representative queries through `engine.answer()` and discards
 * the output. The answers are not kept and nothing per session is touched: each query is on its
 * own, without history. An engine error is thrown to the caller (it would fail real queries too).
 */
export async function warmUp(engine: Pick<RagEngine, 'answer'>, opts: WarmUpOptions): Promise<WarmUpResult> {
  const phrases = opts.phrases ?? WARMUP_PHRASES;
  const t0 = performance.now();
  let count = 0;
  let stopped: WarmUpResult['stopped'] = 'done';
  if (phrases.length > 0) {
    for (let i = 0; i < opts.queries; i++) {
      if (opts.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      if (performance.now() - t0 >= opts.budgetMs) {
        stopped = 'budget';
        break;
      }
      const text = phrases[i % phrases.length]!;
      try {
        for await (const ev of engine.answer({ text, ...(opts.signal ? { signal: opts.signal } : {}) })) void ev;
      } catch (err) {
        if (opts.signal?.aborted) {
          stopped = 'aborted';
          break;
        }
        throw err;
      }
      count++;
    }
  }
  return { count, ms: performance.now() - t0, stopped };
}
