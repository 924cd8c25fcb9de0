// Text → search terms. One analyzer serves the KB index, the intent classifier and queries, so
// the same word always maps to the same term. wink-nlp tokenizes (it copes with numbers, times,
// emails and non-Latin script) and stems with Porter2.
import winkNLP, { type ItemToken } from 'wink-nlp';
import model from 'wink-eng-lite-web-model';

export interface Token {
  /** Lower-cased NFC surface form. */
  surface: string;
  /** Stem (word), normalised value (number, time, email) or the surface itself (other scripts). */
  term: string;
  stop: boolean;
}

export interface Analyzer {
  tokens(text: string): Token[];
  /** Tokens plus derived cue terms (`__money`, `__duration`, `__clock`) describing what the text talks about. */
  terms(text: string, role: 'document' | 'query'): Token[];
}

// STT writes contractions without apostrophes; wink would split "cant" into "ca" + "nt".
const CONTRACTIONS: Record<string, string> = {
  dont: 'do not', cant: 'can not', cannot: 'can not', wont: 'will not', isnt: 'is not', arent: 'are not',
  didnt: 'did not', doesnt: 'does not', hasnt: 'has not', havent: 'have not', wasnt: 'was not',
  werent: 'were not', couldnt: 'could not', shouldnt: 'should not', wouldnt: 'would not',
  thats: 'that is', whats: 'what is', wheres: 'where is', hows: 'how is', im: 'i am', ive: 'i have',
  youre: 'you are', theres: 'there is', lets: 'let us',
};
const CLITICS: Record<string, string> = {
  "n't": 'not', nt: 'not', ca: 'can', wo: 'will', "'s": 'is', "'m": 'am', "'re": 'are', "'ll": 'will',
  "'ve": 'have', "'d": 'would',
};
// wink's stop list drops these, but on a support line they carry the topic ("where is my order").
const CONTENT_STOP_WORDS = new Set(['where']);
// Words callers wrap every request in; they say nothing about the topic. "long"/"much"/"soon"
// are carried by the __duration/__money cues instead.
const CALLER_FILLER = new Set([
  'get', 'got', 'gets', 'getting', 'want', 'wanted', 'need', 'needed', 'like', 'please', 'thing', 'something',
  'anything', 'know', 'tell', 'help', 'just', 'really', 'guys', 'guy', 'yeah', 'okay', 'ok', 'hi', 'hello', 'hey',
  'thanks', 'thank', 'go', 'going', 'gonna', 'say', 'said', 'make', 'long', 'much', 'many', 'soon', 'fast',
  'quickly', 'still', 'now', 'today', 'um', 'uh', 'hmm', 'alright', 'sure', 'actually', 'maybe', 'way',
]);
const KEEP_TYPES = new Set(['word', 'number', 'unk', 'email', 'url', 'time', 'ordinal', 'hashtag']);

// Cues let "how much" find the sentence with a price, "how long" the one with a duration, etc.
const DURATION_UNIT = /^(minute|hour|day|week|month|year)s?$/;
const QUERY_CUES: Array<[RegExp, string]> = [
  [/\b(how much|cost|costs|price|prices|fee|fees|charge for|pay for|expensive|cheap)\b/, '__money'],
  [/\b(how long|how many (days|weeks|hours|minutes)|how fast|how soon|how quickly|when will|how late|valid for|still (no|not|have not|has not|waiting))\b/, '__duration'],
  [/\bwhen (am i|are you|is it|do i|does it|will)\b|\b(days|weeks|months) ago\b/, '__duration'],
  [/\b(what time|hours|are you open|open on|open at|open today|opening|closed)\b/, '__clock'],
];

export function normalizeText(text: string): string {
  return text
    .normalize('NFC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/\b2fa\b/g, 'two factor')
    .replace(/\be-mail/g, 'email')
    .replace(/\b[a-z]+\b/g, (w) => CONTRACTIONS[w] ?? w);
}

export function createAnalyzer(): Analyzer {
  const nlp = winkNLP(model, []);
  const its = nlp.its;
  // wink-nlp's typings declare `its.stem` with a signature `out()` does not accept; it works at runtime.
  const stem = its.stem as unknown as Parameters<ItemToken['out']>[0];

  function tokens(text: string): Token[] {
    const doc = nlp.readDoc(normalizeText(text));
    const out: Token[] = [];
    doc.tokens().each((t: ItemToken) => {
      const type = t.out(its.type) as string;
      if (!KEEP_TYPES.has(type)) return;
      const surface = t.out(its.normal) as string;
      const clitic = CLITICS[surface];
      if (clitic !== undefined) {
        out.push({ surface: clitic, term: clitic, stop: true });
        return;
      }
      let term = surface;
      if (type === 'word') term = t.out(stem) as string;
      const stop =
        type === 'word' && (((t.out(its.stopWordFlag) as boolean) && !CONTENT_STOP_WORDS.has(surface)) || CALLER_FILLER.has(surface));
      out.push({ surface, term, stop });
    });
    return out;
  }

  function terms(text: string, role: 'document' | 'query'): Token[] {
    const toks = tokens(text);
    const cues = new Set<string>();
    if (role === 'document') {
      if (/[$€£]\s?\d|\bfree\b|\bdollars?\b/i.test(text)) cues.add('__money');
      if (/\b\d+(\.\d+)?\s*(am|pm)\b|\b\d{1,2}(am|pm)\b|24\/7|\bmonday\b|\bsunday\b/i.test(text)) cues.add('__clock');
      for (let i = 0; i + 1 < toks.length; i++) {
        const a = toks[i];
        const b = toks[i + 1];
        if (a && b && /^\d/.test(a.surface) && DURATION_UNIT.test(b.surface)) cues.add('__duration');
      }
    } else {
      const norm = normalizeText(text);
      for (const [re, cue] of QUERY_CUES) if (re.test(norm)) cues.add(cue);
    }
    for (const cue of cues) toks.push({ surface: cue, term: cue, stop: false });
    return toks;
  }

  return { tokens, terms };
}

/**
 * Repairs query words the index has never seen: "pass word" → "password" (STT splits compounds),
 * "trekking" → "tracking" (one or two edits away from a known word).
 */
export interface Lexicon {
  has(term: string): boolean;
  correct(tokens: readonly Token[]): Token[];
}

export function createLexicon(known: Iterable<Token>): Lexicon {
  const bySurface = new Map<string, string>();
  const terms = new Set<string>();
  for (const t of known) {
    terms.add(t.term);
    if (!t.stop && t.surface.length >= 3 && !bySurface.has(t.surface)) bySurface.set(t.surface, t.term);
  }
  const surfaces = [...bySurface.keys()];

  function nearest(word: string): string | undefined {
    const maxDist = word.length >= 9 ? 2 : 1;
    let best: string | undefined;
    let bestDist = maxDist + 1;
    for (const s of surfaces) {
      if (Math.abs(s.length - word.length) > maxDist || s[0] !== word[0]) continue;
      const d = editDistance(word, s, bestDist);
      if (d < bestDist) {
        bestDist = d;
        best = s;
      }
    }
    return best;
  }

  function correct(tokens: readonly Token[]): Token[] {
    const out: Token[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      const next = tokens[i + 1];
      if (next && !t.surface.startsWith('__') && !next.surface.startsWith('__')) {
        const joined = t.surface + next.surface;
        const jt = bySurface.get(joined);
        if (jt !== undefined && joined.length >= 6 && (!terms.has(t.term) || !terms.has(next.term))) {
          out.push({ surface: joined, term: jt, stop: false });
          i++;
          continue;
        }
      }
      if (!t.stop && !terms.has(t.term) && t.surface.length >= 6 && /^[a-z]+$/.test(t.surface)) {
        const n = nearest(t.surface);
        if (n !== undefined) {
          out.push({ surface: n, term: bySurface.get(n)!, stop: false });
          continue;
        }
      }
      out.push(t);
    }
    return out;
  }

  return { has: (term) => terms.has(term), correct };
}

/** Damerau (optimal string alignment) distance, giving up once it exceeds `limit`. */
export function editDistance(a: string, b: string, limit = Infinity): number {
  const n = a.length;
  const m = b.length;
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: m + 1 }, (_, j) => j);
  for (let i = 1; i <= n; i++) {
    const cur: number[] = [i];
    let rowMin = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= limit) return limit;
    prev2 = prev;
    prev = cur;
  }
  return prev[m]!;
}
