import { monotonicFactory, ulid } from 'ulid';

/** The only session id format: `ses_` + ULID (Crockford base32, 26 chars). */
export const SESSION_ID_RE = /^ses_[0-9A-HJKMNP-TV-Z]{26}$/;
/** Turn ids: `turn_` + ULID. A turn id is also the correlation id of everything in the turn. */
export const TURN_ID_RE = /^turn_[0-9A-Za-z]{1,40}$/;

export function isSessionId(value: unknown): boolean {
  return typeof value === 'string' && SESSION_ID_RE.test(value);
}

const monotonic = monotonicFactory();

export function newSessionId(now: number = Date.now()): string {
  return `ses_${ulid(now)}`;
}

export function newTurnId(now: number = Date.now()): string {
  return `turn_${monotonic(now)}`;
}

/** A unique id for events/utterances that have no deterministic id of their own. */
export function newId(prefix: string, now: number = Date.now()): string {
  return `${prefix}_${monotonic(now)}`;
}
