// The answer policy: given the intent scores and the retrieval (computed in parallel), decide
// what kind of reply this turn gets. Pure: no I/O, no clock, easy to read as a table.
import type { IntentResult } from './intent';
import type { Replies } from './replies';
import type { Retrieval } from './retrieve';
import type { HistoryTurn, Intent } from './types';

export interface Thresholds {
  /** Retrieval confidence needed to answer from the KB. */
  answerMin: number;
  /** Below answerMin but above this: ask "is your question about <top article>?". */
  suggestMin: number;
  /** Classifier score needed to act on a conversational intent (greeting, repeat, ...). */
  socialMin: number;
  /** Classifier score needed to call a question out of scope (instead of asking to rephrase). */
  outOfScopeMin: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { answerMin: 0.4, suggestMin: 0.2, socialMin: 0.35, outOfScopeMin: 0.3 };

/** Retrieval confidence at which a KB question inside a social turn ("hi, where is my order") wins. */
const QUESTION_INSIDE_MIN = 0.75;
/** Retrieval confidence at which the KB overrides an out-of-scope classification. */
const KB_OVERRIDES_OUT_OF_SCOPE = 0.8;

export type Decision =
  | { kind: 'answer'; intent: Intent; confidence: number; articleId: string; useQuery: 'current' | 'previous' }
  | {
      kind: 'reply';
      intent: Intent;
      confidence: number;
      sentences: string[];
      sourceIds: string[];
      clarify: boolean;
      escalate: boolean;
    };

export interface DecideInput {
  intent: IntentResult | undefined;
  retrieval: Retrieval;
  history: readonly HistoryTurn[];
  thresholds: Thresholds;
  replies: Replies;
  titleOf: (articleId: string) => string | undefined;
}

const SOCIAL: ReadonlySet<Intent> = new Set(['greeting', 'goodbye', 'repeat', 'affirm', 'deny', 'stop']);

function reply(intent: Intent, confidence: number, sentences: string[], extra: Partial<Extract<Decision, { kind: 'reply' }>> = {}): Decision {
  return { kind: 'reply', intent, confidence, sentences, sourceIds: [], clarify: false, escalate: false, ...extra };
}

export function decide(input: DecideInput): Decision {
  const { intent: ir, retrieval, history, thresholds: th, replies } = input;
  const top = retrieval.hits[0];
  const canAnswer = top !== undefined && retrieval.confidence >= th.answerMin;
  const prev = history[history.length - 1];

  if (ir) {
    const score = (i: Intent): number => ir.ranking.find((r) => r.intent === i)?.score ?? 0;
    // Asking for a person always wins: never keep someone talking to a bot they want out of —
    // when the request has a word of its own ("agent", "talk", "human"), not only "to an".
    if (ir.intent === 'talk_to_human' && ir.score >= th.socialMin && ir.grounded) {
      return reply('talk_to_human', score('talk_to_human'), replies.escalate, { escalate: true });
    }
    // "hi, where is my order" is a question with a greeting in front: the question wins when
    // the KB clearly covers it.
    const questionInside =
      canAnswer &&
      retrieval.confidence >= QUESTION_INSIDE_MIN &&
      retrieval.ownTerms.length >= 2 &&
      score('faq_question') >= 0.6 * ir.score;
    if (SOCIAL.has(ir.intent) && ir.score >= th.socialMin && !questionInside) {
      const s = ir.score;
      switch (ir.intent) {
        case 'greeting':
          return reply('greeting', s, replies.greeting);
        case 'goodbye':
          return reply('goodbye', s, replies.goodbye);
        case 'stop':
          return reply('stop', s, replies.stop);
        case 'repeat':
          return prev && prev.agentText.trim() !== ''
            ? reply('repeat', s, [replies.repeatPrefix, prev.agentText.trim()], { sourceIds: [...prev.sourceIds] })
            : reply('repeat', s, replies.nothingToRepeat);
        case 'affirm': {
          // A "yes" answers the question the agent just asked.
          if (prev && /\?\s*$/.test(prev.agentText)) {
            const proposed = prev.sourceIds[0];
            if (proposed !== undefined && input.titleOf(proposed) !== undefined) {
              return { kind: 'answer', intent: 'affirm', confidence: s, articleId: proposed, useQuery: 'previous' };
            }
            if (/\b(agent|person|someone|team)\b/i.test(prev.agentText)) {
              return reply('affirm', s, replies.escalate, { escalate: true });
            }
          }
          return reply('affirm', s, replies.affirm);
        }
        case 'deny':
          if (prev && /\?\s*$/.test(prev.agentText) && prev.sourceIds.length > 0) {
            return reply('deny', s, replies.clarify.slice(1), { clarify: true });
          }
          return reply('deny', s, replies.deny);
      }
    }
    if (ir.intent === 'out_of_scope' && ir.score >= th.outOfScopeMin && retrieval.confidence < KB_OVERRIDES_OUT_OF_SCOPE) {
      return reply('out_of_scope', ir.score, replies.outOfScope);
    }
  }

  if (canAnswer && top) {
    return { kind: 'answer', intent: 'faq_question', confidence: retrieval.confidence, articleId: top.id, useQuery: 'current' };
  }
  const title = top ? input.titleOf(top.id) : undefined;
  if (top && title !== undefined && retrieval.confidence >= th.suggestMin) {
    const topic = title.charAt(0).toLowerCase() + title.slice(1);
    return reply(
      'faq_question',
      retrieval.confidence,
      replies.clarifySuggest.map((s) => s.replace('{topic}', topic)),
      { clarify: true, sourceIds: [top.id] },
    );
  }
  const intent: Intent = ir && ir.intent === 'out_of_scope' ? 'out_of_scope' : 'faq_question';
  return reply(intent, retrieval.confidence, replies.clarify, { clarify: true });
}
