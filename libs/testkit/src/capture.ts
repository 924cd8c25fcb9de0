// Test helpers for observing services: a log sink that keeps parsed JSON lines, and polling.
import { Writable } from 'node:stream';

export interface LogCapture {
  stream: Writable;
  lines: Array<Record<string, unknown>>;
  /** lines at error level (pino level ≥ 50) */
  errors(): Array<Record<string, unknown>>;
}

export function captureLogs(): LogCapture {
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        if (!l.trim()) continue;
        try {
          lines.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          lines.push({ raw: l });
        }
      }
      cb();
    },
  });
  return { stream, lines, errors: () => lines.filter((l) => typeof l['level'] === 'number' && (l['level'] as number) >= 50) };
}

/** Poll `fn` until it returns a truthy value; throws with `what` on timeout. */
export async function eventually<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 25): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
