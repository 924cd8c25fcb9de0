// The bad-event injector's plan is a pure function of its seed: what it promises about each
// message (its expected fate) must hold by construction, whatever the seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEvent, sessionIdOfSubject } from '@switchboard/contracts';
import { makeScripts, planBadEvents } from '@switchboard/reliability';

test('"unknown" sessions are never live calls, even when the scripts share the seed (seed 777 collided once)', () => {
  for (const seed of [777, 1, 42, 31337]) {
    // the bad-events test's scripts
    const scripts = makeScripts(seed, { sessions: 40, steps: [3, 5], pauseMs: [100, 600], bargeInRate: 0.2, supersedeRate: 0.1, hangUpRate: 0 });
    const good = scripts.map((s) => s.sessionId);
    const real = makeEvent('CALL_STARTED', { sessionId: good[0]!, source: 'synthetic-caller', eventId: `${good[0]}:start` }, {});
    const plan = planBadEvents({ count: 10_000, seed, goodSessions: good, realEvents: [real] }, 16).flat();
    assert.ok(plan.length >= 10_000);
    const live = new Set(good);
    const ghosts = plan.filter((m) => m.kind === 'unknown_session' || m.kind === 'out_of_order');
    assert.ok(ghosts.length > 1000);
    const collided = ghosts.filter((m) => live.has(sessionIdOfSubject(m.subject) ?? ''));
    assert.deepEqual(collided.map((m) => m.msgId), [], `seed ${seed}: unknown-session events addressed to live calls`);
  }
});
