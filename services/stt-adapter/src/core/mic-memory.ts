// The latest MIC_SET per session, for every session (the fan-out consumer sees them all), so a
// replica that takes a partition over already knows each call's microphone state.
// Bounded: the least recently updated sessions are forgotten first.
import type { Mic } from './session-recognizer';

export class MicMemory {
  readonly #max: number;
  /** Insertion order = update order (entries are re-inserted on update). */
  readonly #m = new Map<string, { mic: Mic; at: number }>();

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#m.size;
  }

  get(sessionId: string): { mic: Mic; at: number } | undefined {
    return this.#m.get(sessionId);
  }

  /** Records `mic` unless an update with a later command timestamp is already known. Returns whether it applied. */
  set(sessionId: string, mic: Mic, at: number): boolean {
    const prev = this.#m.get(sessionId);
    if (prev && prev.at > at) return false;
    this.#m.delete(sessionId);
    this.#m.set(sessionId, { mic, at });
    while (this.#m.size > this.#max) {
      const oldest = this.#m.keys().next().value;
      if (oldest === undefined) break;
      this.#m.delete(oldest);
    }
    return true;
  }
}
