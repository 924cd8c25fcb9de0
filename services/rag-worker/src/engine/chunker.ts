// Cuts a stream of text deltas into complete sentences, so speech can start after the first one.
import { splitSentences } from './kb';

export interface SentenceChunker {
  /** Adds a delta; returns the sentences it completed. */
  push(delta: string): string[];
  /** End of stream: returns whatever is left. */
  flush(): string[];
}

export function createSentenceChunker(): SentenceChunker {
  let buffer = '';
  return {
    push(delta) {
      buffer += delta;
      // The last piece may still grow ("4." could become "4.99"), so hold it back until
      // whitespace after its end mark proves it is finished.
      const parts = splitSentences(buffer);
      if (parts.length <= 1) {
        if (parts.length === 1 && /[.!?\u0964\u0965]["')\]]?\s+$/.test(buffer)) {
          buffer = '';
          return parts;
        }
        return [];
      }
      const done = parts.slice(0, -1);
      const last = parts[parts.length - 1]!;
      buffer = /[.!?\u0964\u0965]["')\]]?\s+$/.test(buffer) ? '' : last;
      return buffer === '' ? parts : done;
    },
    flush() {
      const rest = splitSentences(buffer);
      buffer = '';
      return rest;
    },
  };
}
