import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecisionSlots } from '../src/shell/decision-slots';

const tick = () => new Promise((r) => setImmediate(r));

describe('DecisionSlots', () => {
  it('runs at most `limit` at once, the rest in arrival order, and frees the slot of a task that throws', async () => {
    const slots = new DecisionSlots(2);
    const gates = new Map<number, () => void>();
    const started: number[] = [];
    let peak = 0;
    const task = (i: number) =>
      slots.run(async () => {
        started.push(i);
        peak = Math.max(peak, slots.stats.busy);
        await new Promise<void>((r) => gates.set(i, r));
        if (i === 0) throw new Error('boom');
        return i;
      });
    const results = [0, 1, 2, 3, 4].map((i) => task(i).catch((e: Error) => e.message));
    await tick();
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(slots.stats, { busy: 2, waiting: 3 });
    // A newcomer while others wait queues behind them.
    const late = task(5).catch((e: Error) => e.message);
    gates.get(0)!(); // throws: its slot goes to the first waiter
    await tick();
    assert.deepEqual(started, [0, 1, 2]);
    for (const i of [1, 2, 3, 4, 5]) {
      await tick();
      gates.get(i)?.();
      await tick();
    }
    assert.deepEqual(await Promise.all([...results, late]), ['boom', 1, 2, 3, 4, 5]);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
    assert.equal(peak, 2);
    assert.deepEqual(slots.stats, { busy: 0, waiting: 0 });
  });
});
