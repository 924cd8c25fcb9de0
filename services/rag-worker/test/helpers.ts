import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnswerEvent, AnswerQuery, AnswerResult, RagEngine } from '../src/index';
import { DEFAULT_KB_DIR } from '../src/index';

export async function collect(engine: RagEngine, query: AnswerQuery): Promise<{ events: AnswerEvent[]; result: AnswerResult; partials: string[] }> {
  const events: AnswerEvent[] = [];
  for await (const ev of engine.answer(query)) events.push(ev);
  const last = events[events.length - 1];
  if (!last || last.type !== 'final') throw new Error('no final event');
  const partials = events.flatMap((e) => (e.type === 'partial' ? [e.text] : []));
  return { events, result: last.result, partials };
}

/** A private copy of the sample KB (tests that edit files must not touch the real one). */
export async function tempKb(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'rag-kb-'));
  await cp(DEFAULT_KB_DIR, dir, { recursive: true });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function waitFor<T>(register: (resolve: (v: T) => void) => void, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    register((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
