// Builds a small trigram language model (interpolated Kneser-Ney, ARPA text format) and a
// pronunciation dictionary subset from a list of sentences. Pure: text in, text out, so the
// committed model files can be checked for freshness by a test.

const BOS = '<s>';
const EOS = '</s>';

export interface BuiltLanguageModel {
  readonly arpa: string;
  readonly vocabulary: readonly string[];
}

/** Lower-cases and keeps word characters and apostrophes; pocketsphinx dictionaries are lower-case. */
export function tokenizeForLm(sentence: string): string[] {
  return sentence
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 0);
}

type Counts = Map<string, number>;

const key = (words: readonly string[]): string => words.join(' ');

function bump(map: Counts, k: string, by = 1): void {
  map.set(k, (map.get(k) ?? 0) + by);
}

/** Kneser-Ney discount from counts-of-counts (Ney et al.): D = n1 / (n1 + 2 n2), kept sane. */
function discountFor(counts: Counts): number {
  let n1 = 0;
  let n2 = 0;
  for (const c of counts.values()) {
    if (c === 1) n1 += 1;
    else if (c === 2) n2 += 1;
  }
  const d = n1 + 2 * n2 === 0 ? 0.5 : n1 / (n1 + 2 * n2);
  return Math.min(0.9, Math.max(0.1, d));
}

const log10 = (p: number): string => Math.log10(p).toFixed(6);

export function buildTrigramArpa(sentences: readonly string[]): BuiltLanguageModel {
  const tri: Counts = new Map();
  const rawBi: Counts = new Map();
  for (const s of sentences) {
    const words = [BOS, ...tokenizeForLm(s), EOS];
    for (let i = 0; i + 1 < words.length; i++) {
      bump(rawBi, key([words[i]!, words[i + 1]!]));
      if (i + 2 < words.length) bump(tri, key([words[i]!, words[i + 1]!, words[i + 2]!]));
    }
  }
  // Lower orders use continuation counts (how many distinct left contexts precede the n-gram),
  // except n-grams starting with <s>, which have no left context and keep their raw counts.
  const bi: Counts = new Map();
  for (const [k, c] of rawBi) if (k.startsWith(`${BOS} `)) bi.set(k, c);
  for (const k of tri.keys()) {
    const [, v, w] = k.split(' ') as [string, string, string];
    if (v !== BOS) bump(bi, key([v, w]));
  }
  const uni: Counts = new Map();
  for (const k of rawBi.keys()) {
    const w = k.split(' ')[1]!;
    bump(uni, w);
  }

  const vocabulary = [...uni.keys()].filter((w) => w !== EOS).sort();
  const d1 = discountFor(uni);
  const d2 = discountFor(bi);
  const d3 = discountFor(tri);

  // Unigrams: discounted continuation probability, interpolated with a uniform distribution.
  const uniTotal = [...uni.values()].reduce((a, b) => a + b, 0);
  const uniformMass = (d1 * uni.size) / uniTotal;
  const p1 = new Map<string, number>();
  for (const [w, c] of uni) p1.set(w, Math.max(c - d1, 0) / uniTotal + uniformMass / uni.size);

  // Context totals and type counts per order.
  const ctxStats = (counts: Counts): Map<string, { total: number; types: number }> => {
    const m = new Map<string, { total: number; types: number }>();
    for (const [k, c] of counts) {
      const ctx = k.slice(0, k.lastIndexOf(' '));
      const st = m.get(ctx) ?? { total: 0, types: 0 };
      st.total += c;
      st.types += 1;
      m.set(ctx, st);
    }
    return m;
  };
  const biCtx = ctxStats(bi);
  const triCtx = ctxStats(tri);

  const p2 = new Map<string, number>();
  const bo1 = new Map<string, number>();
  for (const [ctx, st] of biCtx) bo1.set(ctx, (d2 * st.types) / st.total);
  for (const [k, c] of bi) {
    const [v, w] = k.split(' ') as [string, string];
    const st = biCtx.get(v)!;
    p2.set(k, Math.max(c - d2, 0) / st.total + bo1.get(v)! * (p1.get(w) ?? 0));
  }
  // Bigram probability for any pair, backing off as the decoder will.
  const p2any = (v: string, w: string): number => p2.get(key([v, w])) ?? (bo1.get(v) ?? 1) * (p1.get(w) ?? 0);

  const p3 = new Map<string, number>();
  const bo2 = new Map<string, number>();
  for (const [ctx, st] of triCtx) bo2.set(ctx, (d3 * st.types) / st.total);
  for (const [k, c] of tri) {
    const [u, v, w] = k.split(' ') as [string, string, string];
    const ctx = key([u, v]);
    const st = triCtx.get(ctx)!;
    p3.set(k, Math.max(c - d3, 0) / st.total + bo2.get(ctx)! * p2any(v, w));
  }
  // Every trigram context must exist as a bigram entry to carry its backoff weight.
  for (const ctx of triCtx.keys()) {
    if (!p2.has(ctx)) {
      const [v, w] = ctx.split(' ') as [string, string];
      p2.set(ctx, p2any(v, w));
    }
  }

  const lines: string[] = ['\\data\\', `ngram 1=${uni.size + 1}`, `ngram 2=${p2.size}`, `ngram 3=${p3.size}`, ''];
  lines.push('\\1-grams:');
  const fmtBo = (bo: number | undefined): string => (bo === undefined ? '' : `\t${log10(bo)}`);
  lines.push(`-99.000000\t${BOS}${fmtBo(bo1.get(BOS))}`);
  for (const w of [...uni.keys()].sort()) lines.push(`${log10(p1.get(w)!)}\t${w}${fmtBo(bo1.get(w))}`);
  lines.push('', '\\2-grams:');
  for (const k of [...p2.keys()].sort()) lines.push(`${log10(p2.get(k)!)}\t${k}${fmtBo(bo2.get(k))}`);
  lines.push('', '\\3-grams:');
  for (const k of [...p3.keys()].sort()) lines.push(`${log10(p3.get(k)!)}\t${k}`);
  lines.push('', '\\end\\', '');
  return { arpa: lines.join('\n'), vocabulary };
}

/**
 * Picks the entries of a CMU-format dictionary (`word PH ON ES`, variants `word(2) ...`) for the
 * given words. Throws with the list of missing words: a word the decoder cannot pronounce would
 * silently never be recognised.
 */
export function dictionarySubset(fullDictionary: string, words: readonly string[]): string {
  const wanted = new Set(words);
  const found = new Set<string>();
  const out: string[] = [];
  for (const line of fullDictionary.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const head = line.slice(0, space);
    const base = head.replace(/\(\d+\)$/, '');
    if (wanted.has(base)) {
      out.push(line.trimEnd());
      found.add(base);
    }
  }
  const missing = words.filter((w) => !found.has(w));
  if (missing.length > 0) throw new Error(`words missing from the pronunciation dictionary: ${missing.join(', ')}`);
  return `${out.join('\n')}\n`;
}
