// The seam between "what the KB says" and "how the agent phrases it". The engine always picks
// the article and the best passages itself; a provider only turns them into spoken text,
// streamed as text deltas (the engine cuts them into sentences and verbalises them).
import type { HistoryTurn } from '../engine/types';

export interface AnswerRequest {
  /** The caller's words, as received. */
  query: string;
  language?: string;
  /** Recent turns, oldest first. */
  history: readonly HistoryTurn[];
  article: { id: string; title: string };
  /** The extractive choice: best sentences of the article, in document order. */
  passages: readonly string[];
  /** The whole article, sentence by sentence, for providers that rephrase. */
  articleText: readonly string[];
  signal: AbortSignal;
}

export interface AnswerProvider {
  readonly name: string;
  /** Yields text deltas; ends when the answer is complete; rejects with the signal's reason on abort. */
  generate(req: AnswerRequest): AsyncIterable<string>;
}

/** The embedded default: speak the chosen passages verbatim. No network, no model. */
export function createExtractiveProvider(): AnswerProvider {
  return {
    name: 'extractive',
    async *generate(req) {
      for (const p of req.passages) {
        req.signal.throwIfAborted();
        yield `${p} `;
      }
    },
  };
}
