// Configuration, validated once at the edge with zod. `configFromEnv` maps environment
// variables (KB_DIR, LLM_*) onto the same schema.
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_THRESHOLDS } from './engine/decide';
import { DEFAULT_RETRIEVAL_TUNING } from './engine/retrieve';

export const DEFAULT_KB_DIR = fileURLToPath(new URL('../kb', import.meta.url));
export const DEFAULT_INTENTS_PATH = fileURLToPath(new URL('../intents/intents.json', import.meta.url));

const unit = z.number().min(0).max(1);

const openAiSchema = z.object({
  kind: z.literal('openai'),
  baseUrl: z.url(),
  apiKey: z.string().optional(),
  model: z.string().min(1),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
  timeoutMs: z.number().int().positive().default(8000),
  firstTokenTimeoutMs: z.number().int().positive().default(2500),
  idleTimeoutMs: z.number().int().positive().default(2000),
  maxRetries: z.number().int().min(0).max(5).default(2),
  retryBaseMs: z.number().int().min(0).default(150),
  retryMaxMs: z.number().int().min(0).default(2000),
  /** On an error before the first word, answer extractively instead of failing the turn. */
  fallbackToExtractive: z.boolean().default(true),
});

export const ragConfigSchema = z.object({
  kbDir: z.string().min(1).default(DEFAULT_KB_DIR),
  intentsPath: z.string().min(1).default(DEFAULT_INTENTS_PATH),
  companyName: z.string().min(1).default('Northwind Goods'),
  /** Re-index when the KB folder changes. */
  watch: z.boolean().default(true),
  watchDebounceMs: z.number().int().min(0).max(60_000).default(250),
  /** How many previous turns are considered. */
  historyTurns: z.number().int().min(0).max(20).default(3),
  maxSentences: z.number().int().min(1).max(10).default(3),
  maxWords: z.number().int().min(5).max(300).default(55),
  thresholds: z
    .object({
      answerMin: unit.default(DEFAULT_THRESHOLDS.answerMin),
      suggestMin: unit.default(DEFAULT_THRESHOLDS.suggestMin),
      socialMin: unit.default(DEFAULT_THRESHOLDS.socialMin),
      outOfScopeMin: unit.default(DEFAULT_THRESHOLDS.outOfScopeMin),
    })
    .prefault({}),
  retrieval: z
    .object({
      contextWeight: unit.default(DEFAULT_RETRIEVAL_TUNING.contextWeight),
      followUpBoost: z.number().min(1).max(10).default(DEFAULT_RETRIEVAL_TUNING.followUpBoost),
      cueWeight: unit.default(DEFAULT_RETRIEVAL_TUNING.cueWeight),
      unknownWordWeight: unit.default(DEFAULT_RETRIEVAL_TUNING.unknownWordWeight),
      followUpFloor: unit.default(DEFAULT_RETRIEVAL_TUNING.followUpFloor),
    })
    .prefault({}),
  provider: z.discriminatedUnion('kind', [z.object({ kind: z.literal('extractive') }), openAiSchema]).default({ kind: 'extractive' }),
});

export type RagConfig = z.infer<typeof ragConfigSchema>;
export type RagConfigInput = z.input<typeof ragConfigSchema>;
export type OpenAiSettings = z.infer<typeof openAiSchema>;

export function parseRagConfig(input: RagConfigInput | undefined): RagConfig {
  return ragConfigSchema.parse(input ?? {});
}

const isOff = (v: string): boolean => ['0', 'false', 'no'].includes(v.toLowerCase());

/**
 * KB_DIR, INTENTS_PATH, KB_WATCH=0, and LLM_BASE_URL + LLM_MODEL to enable the LLM, tuned by
 * LLM_API_KEY, LLM_TIMEOUT_MS, LLM_FIRST_TOKEN_TIMEOUT_MS, LLM_IDLE_TIMEOUT_MS, LLM_MAX_RETRIES
 * and LLM_FALLBACK=0 (fail the turn instead of answering extractively when the model fails).
 */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): RagConfig {
  const input: Record<string, unknown> = {};
  if (env['KB_DIR']) input['kbDir'] = env['KB_DIR'];
  if (env['INTENTS_PATH']) input['intentsPath'] = env['INTENTS_PATH'];
  if (env['KB_WATCH'] !== undefined) input['watch'] = !isOff(env['KB_WATCH']);
  if (env['COMPANY_NAME']) input['companyName'] = env['COMPANY_NAME'];
  if (env['LLM_BASE_URL']) {
    input['provider'] = {
      kind: 'openai',
      baseUrl: env['LLM_BASE_URL'],
      model: env['LLM_MODEL'],
      ...(env['LLM_API_KEY'] ? { apiKey: env['LLM_API_KEY'] } : {}),
      ...(env['LLM_TIMEOUT_MS'] ? { timeoutMs: Number(env['LLM_TIMEOUT_MS']) } : {}),
      ...(env['LLM_FIRST_TOKEN_TIMEOUT_MS'] ? { firstTokenTimeoutMs: Number(env['LLM_FIRST_TOKEN_TIMEOUT_MS']) } : {}),
      ...(env['LLM_IDLE_TIMEOUT_MS'] ? { idleTimeoutMs: Number(env['LLM_IDLE_TIMEOUT_MS']) } : {}),
      ...(env['LLM_MAX_RETRIES'] ? { maxRetries: Number(env['LLM_MAX_RETRIES']) } : {}),
      ...(env['LLM_FALLBACK'] ? { fallbackToExtractive: !isOff(env['LLM_FALLBACK']) } : {}),
    };
  }
  return ragConfigSchema.parse(input);
}
