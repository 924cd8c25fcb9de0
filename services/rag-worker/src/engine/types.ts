// Public shapes of the RAG engine. Kept free of implementation details so the NATS shell
// (and the orchestrator's contracts) can depend on them alone.

export const INTENTS = [
  'greeting',
  'goodbye',
  'faq_question',
  'talk_to_human',
  'repeat',
  'affirm',
  'deny',
  'stop',
  'out_of_scope',
] as const;
export type Intent = (typeof INTENTS)[number];

/** One earlier turn of this call, as the session state stores it (the worker keeps no memory). */
export interface HistoryTurn {
  userText: string;
  agentText: string;
  intent: Intent | string;
  sourceIds: readonly string[];
}

export interface AnswerQuery {
  text: string;
  /** Oldest first. Only the last few turns are used. */
  history?: readonly HistoryTurn[];
  /** The caller already knows this is a question (e.g. a re-ask): go straight to retrieval. */
  skipIntent?: boolean;
  signal?: AbortSignal;
  /** BCP-47 tag from STT; replies are English-only for now (see README of the package). */
  language?: string;
}

export interface AnswerResult {
  /** The whole spoken answer: the partials joined with a space. */
  text: string;
  intent: Intent;
  /** 0..1: the retrieval confidence for answers from the KB, the classifier's score otherwise. */
  confidence: number;
  /** KB article ids the answer came from (for a clarifying question: the article it proposes). */
  sourceIds: string[];
  clarify: boolean;
  escalate: boolean;
  /** Which answer provider produced `text` ('extractive', 'openai', 'template', 'extractive-fallback'). */
  provider: string;
  /** The caller's text exactly as received (Unicode untouched). */
  query: string;
  timings: { intentMs: number; retrievalMs: number; firstPartialMs: number; totalMs: number };
}

export type AnswerEvent =
  | { type: 'intent'; intent: Intent; confidence: number }
  | { type: 'partial'; index: number; text: string }
  | { type: 'final'; result: AnswerResult };

export interface IndexStats {
  articles: number;
  passages: number;
  /** Increments on every successful (re)index. */
  version: number;
  kbDir: string;
  indexedAt: number;
}
