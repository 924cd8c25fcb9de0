// Regenerates the committed domain language model and dictionary subset from DOMAIN_CORPUS:
//   node --import tsx libs/speech/src/scripts/build-lm.ts
// test/lm.test.ts fails when the committed files are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { DOMAIN_CORPUS } from '../stt/domain-corpus';
import { buildDomainModelFiles, DEFAULT_MODEL_PATHS } from '../stt/model-files';

const files = buildDomainModelFiles(DOMAIN_CORPUS, readFileSync(DEFAULT_MODEL_PATHS.dict, 'utf8'));
writeFileSync(DEFAULT_MODEL_PATHS.domainLm, files.arpa);
writeFileSync(DEFAULT_MODEL_PATHS.domainDict, files.dict);
console.log(`wrote ${DEFAULT_MODEL_PATHS.domainLm} (${files.vocabulary.length} words) and ${DEFAULT_MODEL_PATHS.domainDict}`);
