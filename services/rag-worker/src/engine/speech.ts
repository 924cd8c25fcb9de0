// Written text → text a TTS engine reads naturally: prices, times, ranges, phone numbers,
// emails and codes are rewritten the way an agent would say them. Pure string functions.

const DAY: Record<string, string> = {
  mon: 'Monday', tue: 'Tuesday', tues: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', thur: 'Thursday',
  thurs: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday',
};
const MONTH = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const CURRENCY: Record<string, [string, string, string, string]> = {
  $: ['dollar', 'dollars', 'cent', 'cents'],
  '€': ['euro', 'euros', 'cent', 'cents'],
  '£': ['pound', 'pounds', 'penny', 'pence'],
};
// All-caps words a TTS voice should read as a word, not spell out.
const SAY_AS_WORD = new Set(['AM', 'PM', 'OK', 'STOP', 'NASA', 'FAQ', 'PIN', 'NATO']);
const DASH = '[-\u2013\u2014]';

function digits(s: string): string {
  return s.split('').join(' ');
}

function money(sym: string, whole: string, frac: string | undefined): string {
  const names = CURRENCY[sym] ?? ['', '', '', ''];
  const w = Number(whole.replace(/,/g, ''));
  const c = frac === undefined ? 0 : Number(frac.padEnd(2, '0').slice(0, 2));
  const wholeWords = `${whole.replace(/,/g, '')} ${w === 1 ? names[0] : names[1]}`;
  if (c === 0) return wholeWords;
  if (w === 0) return `${c} ${c === 1 ? names[2] : names[3]}`;
  // "4 dollars 99" is how agents say prices; small cent values need the unit to be clear.
  return c < 10 ? `${wholeWords} ${c} ${c === 1 ? names[2] : names[3]}` : `${wholeWords} ${c}`;
}

function clock(h: string, m: string | undefined, ampm: string | undefined): string {
  const mins = m === undefined || m === '00' ? '' : ` ${m.startsWith('0') ? `oh ${m[1]}` : m}`;
  const suffix = ampm === undefined ? '' : ` ${ampm.replace(/\./g, '').toUpperCase()}`;
  return `${Number(h)}${mins}${suffix}`;
}

const TIME = String.raw`(\d{1,2})(?::(\d{2}))?\s?(am|pm|a\.m\.|p\.m\.)`;

export function verbalize(input: string): string {
  let s = input.normalize('NFC');

  // Addresses on the web and in mail come first: their dots and slashes are not sentence marks.
  s = s.replace(/\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b/g, (_m, user: string, host: string) =>
    `${user.replace(/\./g, ' dot ')} at ${host.split('.').join(' dot ')}`,
  );
  s = s.replace(/\bhttps?:\/\/([^\s]+?)(?=[.,!?]?(\s|$))/g, (_m, rest: string) =>
    rest.replace(/\/$/, '').replace(/\./g, ' dot ').replace(/\//g, ' slash '),
  );
  s = s.replace(/\bwww\.([^\s]+?)(?=[.,!?]?(\s|$))/g, (_m, rest: string) =>
    `www dot ${rest.replace(/\./g, ' dot ').replace(/\//g, ' slash ')}`,
  );

  // Phone numbers: groups read digit by digit ("1 800" stays as people say it).
  s = s.replace(/\b(?:\+?1[-.\s])?(\(?\d{3}\)?)[-.\s](\d{3})[-.\s](\d{4})\b/g, (m, a: string, b: string, c: string) => {
    const area = a.replace(/[()]/g, '');
    const lead = /^\+?1[-.\s]/.test(m) ? '1 ' : '';
    const areaSaid = /^[89]00$/.test(area) || area === '888' || area === '877' ? area : digits(area);
    return `${lead}${areaSaid}, ${digits(b)}, ${digits(c)}`;
  });

  s = s.replace(/\b24\/7\b/g, '24 hours a day, 7 days a week');
  s = s.replace(/\b(\d{4})-(\d{2})-(\d{2})\b/g, (m, y: string, mo: string, d: string) => {
    const month = MONTH[Number(mo) - 1];
    return month === undefined ? m : `${month} ${Number(d)}, ${y}`;
  });

  // Times and time ranges: "9am-5pm" → "9 AM to 5 PM", "9:30am" → "9 30 AM".
  s = s.replace(new RegExp(`\\b${TIME}\\s?${DASH}\\s?${TIME}(?![\\w])`, 'gi'),
    (_m, h1: string, m1: string | undefined, a1: string, h2: string, m2: string | undefined, a2: string) =>
      `${clock(h1, m1, a1)} to ${clock(h2, m2, a2)}`,
  );
  s = s.replace(new RegExp(`\\b${TIME}(?![\\w])`, 'gi'), (_m, h: string, m: string | undefined, a: string) => clock(h, m, a));
  s = s.replace(/\b([01]?\d|2[0-3]):([0-5]\d)\b/g, (_m, h: string, m: string) => clock(h, m, undefined));

  // Day ranges: "Mon-Fri" → "Monday to Friday".
  s = s.replace(new RegExp(`\\b(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\\.?\\s?${DASH}\\s?(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\\b`, 'gi'),
    (_m, a: string, b: string) => `${DAY[a.toLowerCase()] ?? a} to ${DAY[b.toLowerCase()] ?? b}`,
  );

  // Money before plain ranges so "$5-$10" keeps its currency.
  s = s.replace(new RegExp(`([$€£])\\s?(\\d[\\d,]*)(?:\\.(\\d{1,2}))?\\s?${DASH}\\s?[$€£]?\\s?(\\d[\\d,]*)(?:\\.(\\d{1,2}))?`, 'g'),
    (_m, sym: string, w1: string, f1: string | undefined, w2: string, f2: string | undefined) =>
      `${money(sym, w1, f1)} to ${money(sym, w2, f2)}`,
  );
  s = s.replace(/([$€£])\s?(\d[\d,]*)(?:\.(\d{1,2}))?(?!\d)/g, (_m, sym: string, w: string, f: string | undefined) => money(sym, w, f));

  s = s.replace(new RegExp(`\\b(\\d+(?:\\.\\d+)?)\\s?${DASH}\\s?(\\d+(?:\\.\\d+)?)\\b(?!-)`, 'g'), '$1 to $2');
  s = s.replace(/(\d+(?:\.\d+)?)\s?%/g, '$1 percent');

  // Codes and long numbers are read digit by digit (zip codes, order numbers, references).
  s = s.replace(/\b([A-Z]{1,3})(\d{3,})\b/g, (_m, letters: string, num: string) => `${digits(letters)} ${digits(num)}`);
  s = s.replace(/(?<![\d.,])(\d{5,})(?![\d.,]*\d)/g, (_m, num: string) => digits(num));
  s = s.replace(/\b[A-Z]{2,3}\b/g, (m) => (SAY_AS_WORD.has(m) ? m : digits(m)));

  s = s
    .replace(/\be\.g\.,?/gi, 'for example')
    .replace(/\bi\.e\.,?/gi, 'that is')
    .replace(/\betc\./gi, 'and so on')
    .replace(/\bvs\.?(?=\s)/gi, 'versus')
    .replace(/\bapprox\.?(?=\s)/gi, 'about')
    .replace(/\s&\s/g, ' and ')
    .replace(/\b(\w+)\/(\w+)\b/g, '$1 or $2')
    .replace(/#(\d)/g, 'number $1');

  // Whatever markdown or symbols survived would be read aloud as "asterisk", "hash" ...
  s = s.replace(/[*_`#>|~^\\]+/g, ' ').replace(/\s+([,.!?])/g, '$1').replace(/\s{2,}/g, ' ').trim();
  return s;
}

/** Long sentences are hard to follow on the phone: split at clause boundaries past ~22 words. */
export function shortenSentence(sentence: string, maxWords = 22): string[] {
  const words = sentence.split(/\s+/);
  if (words.length <= maxWords) return [sentence];
  const m = /^(.{20,}?)(?:;\s+|,\s+(?=(?:and|but|so|or|then)\s))(.{20,})$/.exec(sentence);
  if (!m) return [sentence];
  const first = m[1]!.replace(/[,;]\s*$/, '');
  const rest = m[2]!.replace(/^(and|but|so|or|then)\s+/i, (w) => w.charAt(0).toUpperCase() + w.slice(1));
  const restCap = rest.charAt(0).toUpperCase() + rest.slice(1);
  return [`${first}.`, ...shortenSentence(restCap, maxWords)];
}
