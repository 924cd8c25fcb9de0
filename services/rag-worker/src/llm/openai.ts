// A small OpenAI-compatible chat-completions client (works with OpenAI, vLLM, llama.cpp server,
// Ollama's /v1, LiteLLM ...). Streams deltas over SSE; retries only BEFORE the first delta was
// handed out (a retry after that would repeat words the caller already heard).
import { setTimeout as sleep } from 'node:timers/promises';
import { LlmError } from './errors';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatClientConfig {
  /** e.g. http://127.0.0.1:8000/v1 — `/chat/completions` is appended. */
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  /** Budget for the whole call, retries included. */
  timeoutMs: number;
  /** Budget from sending a request to its first content delta. */
  firstTokenTimeoutMs: number;
  /** Longest allowed silence between two chunks once streaming. */
  idleTimeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface ChatClient {
  stream(messages: readonly ChatMessage[], opts?: { signal?: AbortSignal | undefined }): AsyncIterable<string>;
  complete(messages: readonly ChatMessage[], opts?: { signal?: AbortSignal | undefined }): Promise<string>;
}

interface Choice {
  delta?: { content?: unknown };
  message?: { content?: unknown };
}

function errorFromStatus(status: number, body: string): LlmError {
  let detail = body.slice(0, 300);
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') detail = parsed.error.message;
  } catch {
    // Not JSON: keep the raw (truncated) body.
  }
  if (status === 429) return new LlmError('rate_limited', `rate limited (429): ${detail}`, { retryable: true, status });
  const retryable = status >= 500 || status === 408;
  return new LlmError('http', `HTTP ${status}: ${detail}`, { retryable, status });
}

function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Parses `data:` events out of an SSE byte stream; yields each event's data string. */
export async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (data.length > 0) yield data.join('\n');
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
      // Comments (":keep-alive"), `event:`, `id:`, `retry:` carry nothing we need.
    }
  }
  buffer += decoder.decode();
  if (buffer.startsWith('data:')) data.push(buffer.slice(5).replace(/^ /, ''));
  if (data.length > 0) yield data.join('\n');
}

function contentOf(json: string, field: 'delta' | 'message'): string {
  let parsed: { choices?: Choice[]; error?: { message?: unknown } };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch (err) {
    throw new LlmError('bad_response', `invalid JSON in response: ${json.slice(0, 120)}`, { retryable: false, cause: err });
  }
  if (parsed.error !== undefined) {
    const msg = typeof parsed.error.message === 'string' ? parsed.error.message : JSON.stringify(parsed.error);
    throw new LlmError('bad_response', `server sent an error mid-response: ${msg}`, { retryable: false });
  }
  if (!Array.isArray(parsed.choices)) throw new LlmError('bad_response', 'response has no choices', { retryable: false });
  const c = parsed.choices[0]?.[field]?.content;
  return typeof c === 'string' ? c : '';
}

export function createChatClient(config: ChatClientConfig): ChatClient {
  const url = `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`;

  async function* stream(messages: readonly ChatMessage[], opts: { signal?: AbortSignal | undefined } = {}): AsyncGenerator<string> {
    const userSignal = opts.signal ?? new AbortController().signal;
    const deadline = Date.now() + config.timeoutMs;
    let attempt = 0;
    let emitted = false;

    for (;;) {
      attempt++;
      const ctl = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const arm = (ms: number, what: string): void => {
        clearTimeout(timer);
        const budget = Math.min(ms, deadline - Date.now());
        timer = setTimeout(() => ctl.abort(new LlmError('timeout', `${what} after ${Math.max(0, budget)} ms`, { retryable: !emitted })), Math.max(0, budget));
      };
      const onUserAbort = (): void => ctl.abort(userSignal.reason);
      if (userSignal.aborted) throw new LlmError('aborted', 'aborted before the request', { retryable: false, cause: userSignal.reason });
      userSignal.addEventListener('abort', onUserAbort, { once: true });

      const classify = (err: unknown): LlmError => {
        if (userSignal.aborted) return new LlmError('aborted', 'aborted by caller', { retryable: false, cause: userSignal.reason });
        if (ctl.signal.aborted && ctl.signal.reason instanceof LlmError) return ctl.signal.reason;
        if (err instanceof LlmError) return err;
        return new LlmError('network', `request failed: ${(err as Error).message}`, { retryable: !emitted, cause: err });
      };

      let retryDelay: number | undefined;
      try {
        arm(config.firstTokenTimeoutMs, 'no first token');
        const res = await fetch(url, {
          method: 'POST',
          signal: ctl.signal,
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            ...(config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {}),
          },
          body: JSON.stringify({
            model: config.model,
            messages,
            stream: true,
            ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
            ...(config.maxTokens !== undefined ? { max_tokens: config.maxTokens } : {}),
          }),
        });
        if (!res.ok) {
          const body = await res.text().catch(() => '');
          const err = errorFromStatus(res.status, body);
          retryDelay = retryAfterMs(res.headers.get('retry-after'));
          throw err;
        }
        if (!res.body) throw new LlmError('bad_response', 'response has no body', { retryable: false });
        const type = res.headers.get('content-type') ?? '';
        if (!type.includes('text/event-stream')) {
          // Servers that ignore `stream: true` answer with one JSON document.
          const text = contentOf(await res.text(), 'message');
          if (text !== '') {
            emitted = true;
            yield text;
          }
          return;
        }
        // Node's web ReadableStream is async-iterable; the DOM typings do not say so.
        for await (const data of sseEvents(res.body as unknown as AsyncIterable<Uint8Array>)) {
          if (data.trim() === '[DONE]') return;
          const delta = contentOf(data, 'delta');
          if (delta === '') continue;
          // The idle budget measures the server, not a slow consumer: pause it while we yield.
          clearTimeout(timer);
          emitted = true;
          yield delta;
          if (ctl.signal.aborted) throw ctl.signal.reason;
          arm(config.idleTimeoutMs, 'stream stalled');
        }
        return;
      } catch (err) {
        const e = classify(err);
        e.attempts = attempt;
        const remaining = deadline - Date.now();
        if (!e.retryable || emitted || attempt > config.maxRetries || remaining <= 0) throw e;
        // Exponential backoff with jitter; a server's Retry-After wins when it asks for longer.
        const backoff = Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        const wait = Math.min(Math.max(backoff, retryDelay ?? 0), config.retryMaxMs, remaining);
        try {
          await sleep(wait, undefined, { signal: userSignal });
        } catch {
          throw new LlmError('aborted', 'aborted while waiting to retry', { retryable: false, cause: userSignal.reason });
        }
      } finally {
        clearTimeout(timer);
        userSignal.removeEventListener('abort', onUserAbort);
        // Closing early (consumer stopped iterating) must release the HTTP connection.
        if (!ctl.signal.aborted) ctl.abort(new LlmError('aborted', 'stream closed by consumer', { retryable: false }));
      }
    }
  }

  return {
    stream,
    async complete(messages, opts) {
      let out = '';
      for await (const d of stream(messages, opts)) out += d;
      return out;
    },
  };
}
