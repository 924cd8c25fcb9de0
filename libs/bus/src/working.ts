// Progress heartbeats for long handlers. A short ack_wait lets the server hand a dead replica's
// unacked messages to another replica quickly; a handler that legitimately runs longer (an
// utterance being streamed, an LLM answer) says "still working" more often than ack_wait, so it
// is not redelivered while alive.
import type { JsMsg } from '@nats-io/jetstream';

/** Sends `msg.working()` every `everyMs` until the returned function is called. */
export function keepWorking(msg: JsMsg, everyMs: number): () => void {
  const timer = setInterval(() => msg.working(), Math.max(100, everyMs));
  timer.unref();
  return () => clearInterval(timer);
}
