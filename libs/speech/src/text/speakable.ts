// What an English-only voice (flite) can say. Latin letters (diacritics stripped), digits and
// ordinary punctuation are speakable; other scripts, emoji and symbols are not: passing them to
// flite would spell out UTF-8 bytes or produce noise. Unspeakable runs are reported verbatim,
// as slices of the caller's string, so nothing is lost or mangled.

export interface SpeakablePlan {
  /** ASCII text for the voice ('' when nothing in the input is speakable). */
  readonly speakable: string;
  /** Unspeakable runs exactly as they appear in the input. */
  readonly unspeakable: readonly string[];
}

const PUNCT_MAP: Record<string, string> = {
  '‘': "'", '’': "'", '‚': "'", '“': '"', '”': '"', '„': '"', '–': '-', '—': ', ', '…': '...',
  '\u00a0': ' ', '«': '"', '»': '"',
};

type Kind = 'speak' | 'neutral' | 'foreign';

function classify(ch: string): { kind: Kind; ascii: string } {
  if (/^[A-Za-z0-9]$/.test(ch)) return { kind: 'speak', ascii: ch };
  if (/^\s$/u.test(ch)) return { kind: 'neutral', ascii: ' ' };
  if (/^[!-/:-@[-`{-~]$/.test(ch)) return { kind: 'neutral', ascii: ch };
  const mapped = PUNCT_MAP[ch];
  if (mapped !== undefined) return { kind: 'neutral', ascii: mapped };
  if (/^\p{Script=Latin}$/u.test(ch)) {
    const stripped = ch.normalize('NFKD').replace(/\p{M}/gu, '');
    if (/^[A-Za-z]+$/.test(stripped)) return { kind: 'speak', ascii: stripped };
  }
  return { kind: 'foreign', ascii: '' };
}

export function planSpeakable(text: string): SpeakablePlan {
  let speakable = '';
  const unspeakable: string[] = [];
  // Current foreign run: start/end offsets (UTF-16) in `text`, extended over neutral characters
  // that sit between foreign ones.
  let runStart = -1;
  let runEnd = -1;
  let pendingNeutral = '';
  let offset = 0;
  const closeRun = (): void => {
    if (runStart >= 0) unspeakable.push(text.slice(runStart, runEnd));
    runStart = -1;
  };
  for (const ch of text) {
    const { kind, ascii } = classify(ch);
    if (kind === 'foreign') {
      if (runStart < 0) runStart = offset;
      runEnd = offset + ch.length;
      pendingNeutral = '';
    } else if (kind === 'neutral') {
      pendingNeutral += ascii;
    } else {
      closeRun();
      speakable += pendingNeutral + ascii;
      pendingNeutral = '';
    }
    offset += ch.length;
  }
  closeRun();
  speakable = (speakable + pendingNeutral).replace(/\s+/g, ' ').trim();
  // Punctuation alone is not worth synthesizing.
  if (!/[A-Za-z0-9]/.test(speakable)) speakable = '';
  return { speakable, unspeakable };
}
