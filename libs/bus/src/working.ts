// Progress heartbeats for long handlers, and what they prove. A short ack_wait lets the server
// hand a dead replica's unacked messages to another replica quickly; a handler that legitimately
// runs longer (an utterance being streamed, an LLM answer) says "still working" more often than
// ack_wait, so it is not redelivered while alive.
//
// The server gives the message to another replica once ack_wait passes without a keep-alive, and
// nothing tells the first holder. So a holder keeps its own account: the delivery is surely still
// its own until ack_wait after the last keep-alive it sent (or, before the first one, after the
// earliest moment the server may have sent the message), less a margin for the trip to the
// server. Past that it is `lost`: no more keep-alives, and no nak or ack either — those act on
// whatever delivery of the message is current at the server (nats-server matches them by stream
// sequence, not by delivery), so a late nak from a replica woken from SIGSTOP made the server
// hand the message to a third replica while the second was working on it (two replicas streamed
// one speak in the pipeline slow-consumer run).
import { performance } from 'node:perf_hooks';
import type { JsMsg } from '@nats-io/jetstream';

export interface HeldDeliveryOptions {
  ackWaitMs: number;
  /** The earliest the server may have sent this delivery (performance.now() clock). */
  sentNoEarlierThan: number;
  now?: () => number;
}

/** One delivery held by this replica: keep-alives every third of ack_wait while it is surely ours. */
export class HeldDelivery {
  readonly #msg: Pick<JsMsg, 'working'>;
  readonly #ackWaitMs: number;
  readonly #marginMs: number;
  readonly #now: () => number;
  #ownedUntil: number;
  #lost = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(msg: Pick<JsMsg, 'working'>, o: HeldDeliveryOptions) {
    this.#msg = msg;
    this.#ackWaitMs = o.ackWaitMs;
    // A keep-alive must reach the server before ack_wait runs out: a quarter of it is left for
    // the trip (and a loop a little late to send it).
    this.#marginMs = o.ackWaitMs / 4;
    this.#now = o.now ?? (() => performance.now());
    this.#ownedUntil = o.sentNoEarlierThan + o.ackWaitMs;
    const now = this.#now();
    if (!this.owned()) return;
    // It may have waited unread (this process was stalled): restart the server's clock now, the
    // next periodic keep-alive could come too late.
    if (o.sentNoEarlierThan < now) this.#beat();
    this.#timer = setInterval(() => this.#beat(), Math.max(100, o.ackWaitMs / 3));
    this.#timer.unref();
  }

  /** Surely still this replica's: the server has not handed it to another (and will not before the next keep-alive). */
  owned(): boolean {
    if (!this.#lost && this.#now() >= this.#ownedUntil - this.#marginMs) {
      this.#lost = true;
      this.stop();
    }
    return !this.#lost;
  }

  /** How long ago ack_wait may have run out, if it may have (0 while owned). */
  get lostForMs(): number {
    return this.owned() ? 0 : Math.max(0, this.#now() - (this.#ownedUntil - this.#marginMs));
  }

  #beat(): void {
    if (!this.owned()) return;
    this.#msg.working();
    this.#ownedUntil = this.#now() + this.#ackWaitMs;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
