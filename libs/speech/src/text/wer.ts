/** Lower-case words without punctuation (apostrophes kept: "don't"), Unicode-aware. */
export function normalizeWords(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[’‘]/g, "'")
    .replace(/[^\p{L}\p{N}'\s]+/gu, ' ')
    .split(/\s+/)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter((w) => w.length > 0);
}

export interface WerResult {
  /** (substitutions + deletions + insertions) / reference words; 0 for two empty texts. */
  readonly wer: number;
  readonly substitutions: number;
  readonly deletions: number;
  readonly insertions: number;
  readonly referenceWords: number;
}

/** Word error rate by word-level Levenshtein alignment of normalised texts. */
export function wordErrorRate(reference: string, hypothesis: string): WerResult {
  const ref = normalizeWords(reference);
  const hyp = normalizeWords(hypothesis);
  // cost[j] holds [edits, subs, dels, ins] for the current row.
  type Cell = [number, number, number, number];
  let prev: Cell[] = Array.from({ length: hyp.length + 1 }, (_, j): Cell => [j, 0, 0, j]);
  for (let i = 1; i <= ref.length; i++) {
    const row: Cell[] = [[i, 0, i, 0]];
    for (let j = 1; j <= hyp.length; j++) {
      const diag = prev[j - 1]!;
      const up = prev[j]!;
      const left = row[j - 1]!;
      const same = ref[i - 1] === hyp[j - 1];
      const candidates: Cell[] = [
        [diag[0] + (same ? 0 : 1), diag[1] + (same ? 0 : 1), diag[2], diag[3]],
        [up[0] + 1, up[1], up[2] + 1, up[3]],
        [left[0] + 1, left[1], left[2], left[3] + 1],
      ];
      row.push(candidates.reduce((best, c) => (c[0] < best[0] ? c : best)));
    }
    prev = row;
  }
  const [edits, substitutions, deletions, insertions] = prev[hyp.length]!;
  return {
    wer: ref.length === 0 ? (hyp.length === 0 ? 0 : 1) : edits / ref.length,
    substitutions,
    deletions,
    insertions,
    referenceWords: ref.length,
  };
}

/** Corpus-level WER: total edits over total reference words. */
export function corpusWordErrorRate(pairs: ReadonlyArray<{ reference: string; hypothesis: string }>): WerResult {
  let s = 0;
  let d = 0;
  let ins = 0;
  let n = 0;
  for (const p of pairs) {
    const r = wordErrorRate(p.reference, p.hypothesis);
    s += r.substitutions;
    d += r.deletions;
    ins += r.insertions;
    n += r.referenceWords;
  }
  return { wer: n === 0 ? 0 : (s + d + ins) / n, substitutions: s, deletions: d, insertions: ins, referenceWords: n };
}
