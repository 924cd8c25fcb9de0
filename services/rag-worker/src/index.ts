// @switchboard/rag-worker — intent classification + KB retrieval + spoken answer composition.
export { createRagEngine, answerToResult, RagError } from './engine/engine';
export type { RagEngine, RagEngineDeps, Logger, StepTrace } from './engine/engine';
export type { AnswerEvent, AnswerQuery, AnswerResult, HistoryTurn, Intent, IndexStats } from './engine/types';
export { INTENTS } from './engine/types';
export { parseRagConfig, configFromEnv, ragConfigSchema, DEFAULT_KB_DIR, DEFAULT_INTENTS_PATH } from './config';
export type { RagConfig, RagConfigInput } from './config';
export { verbalize } from './engine/speech';
export { KbError } from './engine/kb';
export type { AnswerProvider, AnswerRequest } from './llm/provider';
export { createExtractiveProvider } from './llm/provider';
export { createOpenAiProvider } from './llm/openai-provider';
export { createChatClient } from './llm/openai';
export type { ChatClient, ChatClientConfig, ChatMessage } from './llm/openai';
export { LlmError } from './llm/errors';
export type { LlmErrorCode } from './llm/errors';
