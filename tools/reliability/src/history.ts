// What a reliability run observed: every event in VOICE_EVENTS, every command on the command
// streams (with stream sequences and times), every event the synthetic caller published (and
// whether the stream acknowledged it), and each session's final state from the orchestrator.
import type { Command, CommandTarget, Event } from '@switchboard/contracts';

export interface RecordedEvent {
  seq: number;
  /** stream timestamp, ms since epoch */
  time: number;
  subject: string;
  /** session id from the subject (the routing truth) */
  subjectSessionId: string | undefined;
  event?: Event;
  /** why the payload does not decode (raw/bad events) */
  invalid?: string;
}

export interface RecordedCommand {
  target: CommandTarget;
  seq: number;
  time: number;
  /** local time the recorder received it (the caller reacts from then on) */
  receivedAt?: number;
  command: Command;
}

export interface PublishedEvent {
  eventId: string;
  sessionId: string;
  eventType: string;
  /** local time the publish was acknowledged */
  at: number;
  /** local time of the first publish attempt, and how many attempts it took */
  firstTryAt?: number;
  attempts?: number;
  /** stream sequence of the ack */
  seq: number;
  /** the stream's dedup said it already had this id */
  duplicate: boolean;
}

export interface FinalState {
  state: string;
  lastSeq: number;
  turns: number;
}

export interface History {
  events: RecordedEvent[];
  commands: RecordedCommand[];
  published: PublishedEvent[];
  /** GET /sessions/:id after the script; null when the orchestrator does not know the session */
  finals: Record<string, FinalState | null>;
}

/** `<sessionId>:<eventSeq>:<index>` → [eventSeq, index]; undefined for other id shapes. */
export function commandOrder(commandId: string): [number, number] | undefined {
  const m = /:(\d+):(\d+)$/.exec(commandId);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}
