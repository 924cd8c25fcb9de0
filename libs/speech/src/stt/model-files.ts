import { fileURLToPath } from 'node:url';
import { buildTrigramArpa, dictionarySubset } from './lm-build';

const STOCK_DIR = '/usr/share/pocketsphinx/model/en-us';

/** Where Debian's pocketsphinx-en-us puts the stock model, and where this package keeps its domain LM. */
export const DEFAULT_MODEL_PATHS = {
  acousticModel: `${STOCK_DIR}/en-us`,
  dict: `${STOCK_DIR}/cmudict-en-us.dict`,
  generalLm: `${STOCK_DIR}/en-us.lm.bin`,
  domainLm: fileURLToPath(new URL('../../models/callcenter.arpa', import.meta.url)),
  domainDict: fileURLToPath(new URL('../../models/callcenter.dict', import.meta.url)),
} as const;

export function buildDomainModelFiles(
  corpus: readonly string[],
  fullDictionary: string,
): { arpa: string; dict: string; vocabulary: readonly string[] } {
  const lm = buildTrigramArpa(corpus);
  return { arpa: lm.arpa, dict: dictionarySubset(fullDictionary, lm.vocabulary), vocabulary: lm.vocabulary };
}
