// Engine answer events → bus events. Pure: every event id is derived from the command id, so a
// redelivered (or duplicated) command re-publishes the same ids and the stream drops the copies.
import { createHash } from 'node:crypto';
import { LIMITS, decodeEvent, encodeEvent, makeEvent, type Event } from '@switchboard/contracts';
import type { AnswerEvent, AnswerResult } from '../engine/types';

export const SOURCE = 'rag-worker';

/** What every event of one query carries. */
export interface QueryRef {
  commandId: string;
  sessionId: string;
  turnId: string;
}

/** `<commandId>:<suffix>`, or a hash of the command id when that would not fit an id field. */
export function eventIdFor(commandId: string, suffix: string): string {
  const id = `${commandId}:${suffix}`;
  if (id.length <= LIMITS.maxIdChars) return id;
  return `rag_${createHash('sha256').update(commandId).digest('hex').slice(0, 40)}:${suffix}`;
}

const init = (ref: QueryRef, suffix: string) => ({
  sessionId: ref.sessionId,
  source: SOURCE,
  eventId: eventIdFor(ref.commandId, suffix),
  correlationId: ref.turnId,
});

export function intentEvent(ref: QueryRef, intent: string, confidence: number): Event {
  return makeEvent('INTENT_DETECTED', init(ref, 'intent'), { turnId: ref.turnId, intent, confidence });
}

export function partialEvent(ref: QueryRef, index: number, text: string): Event {
  return makeEvent('RAG_ANSWER_PARTIAL', init(ref, `partial:${index}`), { turnId: ref.turnId, index, text });
}

export function readyEvent(ref: QueryRef, r: AnswerResult): Event {
  return makeEvent('RAG_ANSWER_READY', init(ref, 'ready'), {
    turnId: ref.turnId,
    text: r.text,
    intent: r.intent,
    confidence: r.confidence,
    sourceIds: r.sourceIds.slice(0, LIMITS.maxSourceIds),
    clarify: r.clarify,
    escalate: r.escalate,
    // int64 on the wire: whole milliseconds.
    firstPartialMs: Math.max(0, Math.round(r.timings.firstPartialMs)),
    totalMs: Math.max(0, Math.round(r.timings.totalMs)),
  });
}

export function escalationEvent(ref: QueryRef, reason: string): Event {
  return makeEvent('ESCALATION_REQUESTED', init(ref, 'escalation'), { turnId: ref.turnId, reason });
}

export function errorEvent(ref: QueryRef, e: { code: string; message: string; retryable: boolean }): Event {
  return makeEvent('ERROR', init(ref, 'error'), {
    code: e.code.slice(0, LIMITS.maxIdChars) || 'rag_failed',
    message: e.message.slice(0, 500),
    retryable: e.retryable,
    stage: 'rag',
    turnId: ref.turnId,
  });
}

/** The bus events one engine event turns into, in publishing order. */
export function busEventsFor(ref: QueryRef, ev: AnswerEvent): Event[] {
  switch (ev.type) {
    case 'intent':
      return [intentEvent(ref, ev.intent, ev.confidence)];
    case 'partial':
      return [partialEvent(ref, ev.index, ev.text)];
    case 'final':
      // READY first: the orchestrator speaks the hand-over sentence, then ends the call as escalated.
      return ev.result.escalate ? [readyEvent(ref, ev.result), escalationEvent(ref, ev.result.intent)] : [readyEvent(ref, ev.result)];
  }
}

/**
 * The orchestrator validates every event it consumes; an event that would fail there (an empty
 * answer, an oversized text) is caught here instead, where the turn can still be failed cleanly.
 * Throws the contracts' ContractError.
 */
export function assertValidEvent(ev: Event): void {
  decodeEvent(encodeEvent(ev));
}
