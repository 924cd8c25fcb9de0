// AnswerProvider backed by an OpenAI-compatible chat model: the engine still picks the article;
// the model only rephrases it for speech, grounded in that article alone.
import type { AnswerProvider, AnswerRequest } from './provider';
import { createChatClient, type ChatClientConfig, type ChatMessage } from './openai';

export interface OpenAiProviderConfig extends ChatClientConfig {
  companyName: string;
}

export function buildMessages(req: AnswerRequest, companyName: string): ChatMessage[] {
  const system =
    `You are a friendly phone agent for ${companyName}. Answer the caller using ONLY the article below. ` +
    'Reply in one to three short spoken sentences. No lists, no markdown, no URLs read letter by letter. ' +
    'If the article does not answer the question, say so briefly and offer to connect the caller to an agent.' +
    (req.language && !req.language.toLowerCase().startsWith('en') ? ` Reply in the caller's language (${req.language}).` : '') +
    `\n\nArticle "${req.article.title}":\n${req.articleText.join(' ')}`;
  const messages: ChatMessage[] = [{ role: 'system', content: system }];
  for (const turn of req.history) {
    if (turn.userText) messages.push({ role: 'user', content: turn.userText });
    if (turn.agentText) messages.push({ role: 'assistant', content: turn.agentText });
  }
  messages.push({ role: 'user', content: req.query });
  return messages;
}

export function createOpenAiProvider(config: OpenAiProviderConfig): AnswerProvider {
  const client = createChatClient(config);
  return {
    name: 'openai',
    generate(req) {
      return client.stream(buildMessages(req, config.companyName), { signal: req.signal });
    },
  };
}
