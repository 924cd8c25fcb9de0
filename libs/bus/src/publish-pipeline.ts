// Several messages of one producer published back to back without waiting for each ack.
//
// A JetStream publish is a request: awaiting each PubAck before the next publish costs a round trip
// to the server per message, and on busy cores each one is a wake-up of this process and of
// nats-server. The rag-worker published a turn's 6 events (intent, 4 partials, answer) that way and
// its answer event left 8–40 ms after the engine had it (bench/e2e, 2 calls). Order is kept without
// waiting: each publish is written to the one connection in call order (nats.js sends the request
// synchronously), and the stream stores messages in arrival order.
import type { PubAck } from '@nats-io/jetstream';

export class PublishPipeline {
  readonly #maxInFlight: number;
  #inFlight: Promise<PubAck>[] = [];
  #failure: { err: unknown } | undefined;
  #sent = 0;

  /** `maxInFlight` bounds the acks outstanding: past it, send() waits for those first. */
  constructor(maxInFlight = 64) {
    this.#maxInFlight = Math.max(1, maxInFlight);
  }

  /** Messages handed to the connection so far. */
  get sent(): number {
    return this.#sent;
  }

  /**
   * Starts `publish` now, after the earlier ones. Throws the first failed ack instead once one has
   * failed: nothing more is sent after a message that may not have been stored.
   */
  async send(publish: () => Promise<PubAck>): Promise<void> {
    this.#throwIfFailed();
    if (this.#inFlight.length >= this.#maxInFlight) await this.drain();
    const p = publish();
    p.catch((err: unknown) => {
      this.#failure ??= { err };
    });
    this.#inFlight.push(p);
    this.#sent++;
  }

  /** Waits for every ack sent so far; throws the first failure. */
  async drain(): Promise<void> {
    const pending = this.#inFlight;
    this.#inFlight = [];
    await Promise.allSettled(pending);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.err;
  }
}
