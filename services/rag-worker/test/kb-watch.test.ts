import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createRagEngine, type IndexStats } from '../src/index';
import { collect, tempKb, waitFor } from './helpers';

describe('KB folder indexing', () => {
  it('re-indexes when an article is added, and keeps the last good index on a broken edit', async () => {
    const kb = await tempKb();
    const reindexed: IndexStats[] = [];
    let notify: ((s: IndexStats) => void) | undefined;
    const warnings: string[] = [];
    const engine = await createRagEngine(
      { kbDir: kb.dir, watch: true, watchDebounceMs: 50 },
      {
        onReindex: (s) => {
          reindexed.push(s);
          notify?.(s);
        },
        log: { info() {}, warn: (_o, msg) => warnings.push(msg ?? ''), error() {} },
      },
    );
    try {
      const before = engine.stats();
      const miss = await collect(engine, { text: 'can i bring my dog to the warehouse store' });
      assert.notDeepEqual(miss.result.sourceIds, ['pets']);

      const next = waitFor<IndexStats>((r) => (notify = r), 5000, 're-index after adding an article');
      await writeFile(
        join(kb.dir, 'pets.md'),
        '---\nid: pets\ntitle: Bringing pets to the warehouse store\ntags: [dog, cat, pets, animals, warehouse store]\n---\nDogs on a leash are welcome in our warehouse store. Other pets must stay in a carrier.\n',
      );
      const stats = await next;
      assert.equal(stats.articles, before.articles + 1);
      assert.ok(stats.version > before.version);
      const hit = await collect(engine, { text: 'can i bring my dog to the warehouse store' });
      assert.deepEqual(hit.result.sourceIds, ['pets']);
      assert.match(hit.result.text, /leash/);

      // A broken article must not take answering down.
      const count = reindexed.length;
      await writeFile(join(kb.dir, 'broken.md'), 'no front matter here');
      await waitFor<void>((r) => {
        const t = setInterval(() => {
          if (warnings.some((w) => w.includes('re-index failed'))) {
            clearInterval(t);
            r();
          }
        }, 20);
      }, 5000, 'the failed re-index warning');
      assert.equal(reindexed.length, count);
      const still = await collect(engine, { text: 'can i bring my dog to the warehouse store' });
      assert.deepEqual(still.result.sourceIds, ['pets']);
    } finally {
      await engine.close();
      await kb.cleanup();
    }
  });

  it('indexes and answers an article written in Telugu, text intact', async () => {
    const kb = await tempKb();
    const engine = await createRagEngine({ kbDir: kb.dir, watch: false });
    try {
      const body = 'మా దుకాణం ఉదయం 9 గంటలకు తెరుచుకుంటుంది. ఆదివారం సెలవు.';
      await writeFile(join(kb.dir, 'te-hours.md'), `---\nid: te-hours\ntitle: దుకాణం సమయాలు\ntags: [సమయాలు, దుకాణం]\n---\n${body}\n`);
      const stats = await engine.reindex();
      assert.ok(stats.articles >= 36);
      const { result, partials } = await collect(engine, { text: 'దుకాణం సమయాలు ఏమిటి', language: 'te-IN' });
      assert.deepEqual(result.sourceIds, ['te-hours']);
      assert.equal(result.query, 'దుకాణం సమయాలు ఏమిటి');
      assert.ok(partials.length >= 1);
      // Every Telugu word of the answer comes from the article, unchanged (NFC).
      for (const word of result.text.match(/[\u0C00-\u0C7F]+/g) ?? []) assert.ok(body.includes(word), `mangled: ${word}`);
      assert.match(result.text, /దుకాణం/);
    } finally {
      await engine.close();
      await kb.cleanup();
    }
  });

  it('fails start-up with a typed error on a KB folder that does not exist', async () => {
    await assert.rejects(createRagEngine({ kbDir: '/nonexistent/kb', watch: false }), (e: Error & { code?: string }) => e.code === 'kb_read');
  });
});
