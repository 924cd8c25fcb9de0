import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createChatClient, createRagEngine, LlmError, type ChatClientConfig } from '../src/index';
import { collect } from './helpers';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void | Promise<void>;

const sse = (res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
};
const chunk = (content: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('OpenAI-compatible chat client against a local server', () => {
  let server: Server;
  let baseUrl: string;
  let handler: Handler;
  let requests: Array<{ headers: IncomingMessage['headers']; body: Record<string, unknown>; closedEarly: boolean }>;

  before(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString('utf8')));
      req.on('end', () => {
        const body = JSON.parse(raw || '{}') as Record<string, unknown>;
        const record = { headers: req.headers, body, closedEarly: false };
        requests.push(record);
        res.on('close', () => {
          if (!res.writableFinished) record.closedEarly = true;
        });
        Promise.resolve(handler(req, res, body)).catch(() => res.destroy());
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    requests = [];
  });

  const config = (over: Partial<ChatClientConfig> = {}): ChatClientConfig => ({
    baseUrl,
    apiKey: 'test-key',
    model: 'tiny-model',
    timeoutMs: 5000,
    firstTokenTimeoutMs: 1000,
    idleTimeoutMs: 1000,
    maxRetries: 2,
    retryBaseMs: 10,
    retryMaxMs: 200,
    ...over,
  });

  it('streams deltas in order, across split writes and split UTF-8 characters', async () => {
    handler = async (_req, res) => {
      sse(res);
      res.write(': keep-alive\n\n');
      res.write(chunk('Hello'));
      const te = Buffer.from(chunk(' నమస్కారం'), 'utf8');
      // Cut inside a multi-byte Telugu character and inside the "data:" line.
      res.write(te.subarray(0, 17));
      await sleep(10);
      res.write(te.subarray(17));
      res.write(chunk(' world.'));
      res.end('data: [DONE]\n\n');
    };
    const client = createChatClient(config());
    const deltas: string[] = [];
    for await (const d of client.stream([{ role: 'user', content: 'hi' }])) deltas.push(d);
    assert.deepEqual(deltas, ['Hello', ' నమస్కారం', ' world.']);
    const req = requests[0]!;
    assert.equal(req.headers.authorization, 'Bearer test-key');
    assert.equal(req.body['stream'], true);
    assert.equal(req.body['model'], 'tiny-model');
    assert.deepEqual(req.body['messages'], [{ role: 'user', content: 'hi' }]);
  });

  it('retries 500 and 429 (honouring Retry-After) before the first token, then succeeds', async () => {
    let n = 0;
    handler = (_req, res) => {
      n++;
      if (n === 1) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
      } else if (n === 2) {
        res.writeHead(429, { 'retry-after': '0.05' }).end('{"error":{"message":"slow down"}}');
      } else {
        sse(res);
        res.end(`${chunk('ok')}data: [DONE]\n\n`);
      }
    };
    const text = await createChatClient(config()).complete([{ role: 'user', content: 'x' }]);
    assert.equal(text, 'ok');
    assert.equal(requests.length, 3);
  });

  it('does not retry a 400 and reports it as a typed, non-retryable error', async () => {
    handler = (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad model"}}');
    };
    await assert.rejects(createChatClient(config()).complete([{ role: 'user', content: 'x' }]), (e: unknown) => {
      assert.ok(e instanceof LlmError);
      assert.equal(e.code, 'http');
      assert.equal(e.status, 400);
      assert.equal(e.retryable, false);
      assert.match(e.message, /bad model/);
      return true;
    });
    assert.equal(requests.length, 1);
  });

  it('gives up after maxRetries on persistent 503', async () => {
    handler = (_req, res) => {
      res.writeHead(503).end('unavailable');
    };
    await assert.rejects(createChatClient(config({ maxRetries: 2 })).complete([{ role: 'user', content: 'x' }]), (e: unknown) => {
      assert.ok(e instanceof LlmError);
      assert.equal(e.code, 'http');
      assert.equal(e.status, 503);
      assert.equal(e.attempts, 3);
      return true;
    });
    assert.equal(requests.length, 3);
  });

  it('times out a server that never sends the first token', async () => {
    handler = async (_req, res) => {
      sse(res);
      await sleep(2000);
      res.end();
    };
    const t0 = Date.now();
    await assert.rejects(
      createChatClient(config({ firstTokenTimeoutMs: 150, maxRetries: 0 })).complete([{ role: 'user', content: 'x' }]),
      (e: unknown) => e instanceof LlmError && e.code === 'timeout',
    );
    assert.ok(Date.now() - t0 < 1500, 'did not wait for the slow server');
  });

  it('times out a stream that stalls after some tokens, without retrying (words were already out)', async () => {
    handler = async (_req, res) => {
      sse(res);
      res.write(chunk('Partial answer'));
      await sleep(2000);
      res.end();
    };
    const deltas: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const d of createChatClient(config({ idleTimeoutMs: 150 })).stream([{ role: 'user', content: 'x' }])) deltas.push(d);
      })(),
      (e: unknown) => e instanceof LlmError && e.code === 'timeout' && !e.retryable,
    );
    assert.deepEqual(deltas, ['Partial answer']);
    assert.equal(requests.length, 1);
  });

  it('cancels mid-stream: the caller gets an aborted error and the server sees the connection close', async () => {
    handler = async (_req, res) => {
      sse(res);
      for (let i = 0; i < 50 && !res.destroyed; i++) {
        res.write(chunk(`word${i} `));
        await sleep(20);
      }
      res.end('data: [DONE]\n\n');
    };
    const ctl = new AbortController();
    const deltas: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const d of createChatClient(config()).stream([{ role: 'user', content: 'x' }], { signal: ctl.signal })) {
          deltas.push(d);
          if (deltas.length === 2) ctl.abort();
        }
      })(),
      (e: unknown) => e instanceof LlmError && e.code === 'aborted',
    );
    assert.deepEqual(deltas, ['word0 ', 'word1 ']);
    await sleep(100);
    assert.equal(requests.length, 1);
    assert.equal(requests[0]!.closedEarly, true, 'server saw the request cancelled');
  });

  it('reports an error event inside the stream as bad_response', async () => {
    handler = (_req, res) => {
      sse(res);
      res.end(`${chunk('Hi')}data: {"error":{"message":"model crashed"}}\n\n`);
    };
    await assert.rejects(
      createChatClient(config()).complete([{ role: 'user', content: 'x' }]),
      (e: unknown) => e instanceof LlmError && e.code === 'bad_response' && /model crashed/.test(e.message),
    );
  });

  it('accepts a server that ignores stream:true and answers with one JSON document', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'Whole answer.' } }] }));
    };
    assert.equal(await createChatClient(config()).complete([{ role: 'user', content: 'x' }]), 'Whole answer.');
  });

  it('drives the engine: LLM deltas become verbalised sentences; a failing LLM falls back to the extractive answer', async () => {
    handler = async (_req, res, body) => {
      const messages = body['messages'] as Array<{ role: string; content: string }>;
      assert.match(messages[0]!.content, /Shipping costs/);
      sse(res);
      for (const piece of ['Standard shipping is $4', '.99. Orders over $', '50 ship free. ', 'Anything else?']) {
        res.write(chunk(piece));
        await sleep(5);
      }
      res.end('data: [DONE]\n\n');
    };
    const engine = await createRagEngine({
      watch: false,
      provider: { kind: 'openai', baseUrl, model: 'tiny-model', maxRetries: 0, retryBaseMs: 10 },
    });
    try {
      const ok = await collect(engine, { text: 'how much does shipping cost' });
      assert.equal(ok.result.provider, 'openai');
      assert.deepEqual(ok.partials, ['Standard shipping is 4 dollars 99.', 'Orders over 50 dollars ship free.', 'Anything else?']);
      assert.deepEqual(ok.result.sourceIds, ['shipping-costs']);

      handler = (_req, res) => {
        res.writeHead(500).end('down');
      };
      const fallback = await collect(engine, { text: 'how much does shipping cost' });
      assert.equal(fallback.result.provider, 'extractive-fallback');
      assert.match(fallback.result.text, /4 dollars 99/);
    } finally {
      await engine.close();
    }
  });
});
