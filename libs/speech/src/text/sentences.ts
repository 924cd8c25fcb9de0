// Sentence splitting for TTS: yield audio per sentence as soon as it is synthesized. Keeps
// abbreviations ("Dr.", "e.g."), initials ("J. Smith"), decimals ("3.5") and ordinals together;
// works on code points, so any script passes through intact.

const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'vs', 'etc', 'inc', 'ltd', 'co', 'corp',
  'no', 'nos', 'approx', 'dept', 'est', 'fig', 'min', 'max', 'ave', 'rd', 'blvd', 'apt', 'tel', 'ext',
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'a.m', 'p.m', 'e.g', 'i.e', 'u.s', 'u.k',
]);

const TERMINATORS = /[.!?…。！？।॥]/u;
const CLOSERS = /["'”’)\]»]/u;

function isAbbreviation(before: string): boolean {
  // The word immediately before the period, dots inside kept ("e.g", "a.m").
  const m = /([\p{L}.]+)$/u.exec(before);
  if (!m) return false;
  const word = m[1]!.toLowerCase();
  if (ABBREVIATIONS.has(word)) return true;
  // Single-letter initials and dotted acronyms: "J.", "U.S.A."
  return /^\p{L}$/u.test(word) || /^(\p{L}\.)+\p{L}$/u.test(word);
}

export function splitSentences(text: string, maxChars = 250): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    current += ch;
    if (!TERMINATORS.test(ch)) continue;
    // Absorb runs of terminators and closing quotes: "Really?!" / "done."
    while (i + 1 < chars.length && (TERMINATORS.test(chars[i + 1]!) || CLOSERS.test(chars[i + 1]!))) current += chars[++i];
    const next = chars[i + 1];
    const atBoundary = next === undefined || /\s/u.test(next);
    if (!atBoundary) continue;
    if (ch === '.' && isAbbreviation(current.slice(0, -1).trimEnd())) {
      // "Dr. Smith" stays together, but an abbreviation ending the text or followed by a
      // lower-case word is not a boundary either.
      continue;
    }
    pushSentence(out, current, maxChars);
    current = '';
  }
  pushSentence(out, current, maxChars);
  return out;
}

function pushSentence(out: string[], sentence: string, maxChars: number): void {
  let s = sentence.trim();
  // Very long run-ons are cut at a comma or space so the first audio is not delayed by them.
  while (Array.from(s).length > maxChars) {
    const head = Array.from(s).slice(0, maxChars).join('');
    const cut = Math.max(head.lastIndexOf(', '), head.lastIndexOf('; '));
    const at = cut > maxChars / 3 ? cut + 1 : head.lastIndexOf(' ') > 0 ? head.lastIndexOf(' ') : head.length;
    out.push(s.slice(0, at).trim());
    s = s.slice(at).trim();
  }
  if (s.length > 0) out.push(s);
}
