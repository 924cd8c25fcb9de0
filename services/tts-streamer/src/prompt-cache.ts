// Synthesized audio by cache key: fillers and prompts are synthesized once at start-up
// ("pinned"), and a speak with an unknown key is cached after it was synthesized in full
// (bounded, least recently used first out).

export interface CachedUtterance {
  readonly key: string;
  /** The text that was synthesized (may differ from a later command's text for the same key). */
  readonly text: string;
  readonly pcm: Int16Array;
  readonly sampleRate: number;
  readonly pinned: boolean;
}

export class PromptCache {
  readonly #pinned = new Map<string, CachedUtterance>();
  /** Map order = recency (re-inserted on use). */
  readonly #dynamic = new Map<string, CachedUtterance>();
  readonly #maxDynamic: number;

  constructor(maxDynamic: number) {
    this.#maxDynamic = maxDynamic;
  }

  get(key: string): CachedUtterance | undefined {
    const pinned = this.#pinned.get(key);
    if (pinned) return pinned;
    const hit = this.#dynamic.get(key);
    if (hit) {
      this.#dynamic.delete(key);
      this.#dynamic.set(key, hit);
    }
    return hit;
  }

  set(entry: CachedUtterance): void {
    if (entry.pinned) {
      this.#pinned.set(entry.key, entry);
      this.#dynamic.delete(entry.key);
      return;
    }
    if (this.#pinned.has(entry.key) || this.#maxDynamic === 0) return;
    this.#dynamic.delete(entry.key);
    this.#dynamic.set(entry.key, entry);
    while (this.#dynamic.size > this.#maxDynamic) this.#dynamic.delete(this.#dynamic.keys().next().value as string);
  }

  get size(): number {
    return this.#pinned.size + this.#dynamic.size;
  }

  keys(): string[] {
    return [...this.#pinned.keys(), ...this.#dynamic.keys()];
  }
}

/** One chunk, as an async iterable (the shape synthesis produces), for serving cached audio. */
export async function* cachedChunks(pcm: Int16Array): AsyncGenerator<Int16Array> {
  yield pcm;
}
