// consume() must not depend on the server announcing the end of every pull request.
// nats-server 2.9.10 ends an expired pull without a status when a message reaches the consumer
// between the request's expiry and the server's expiry timer (its delivery loop drops the expired
// request in nextWaiting). nats.js's consume() counted that request's messages as still coming,
// pulled nothing more, and the partition stood still until two idle heartbeats were missed — the
// 5 s stalls of bench/orchestrator (expires 5 s, heartbeat 2.5 s). Here a proxy swallows one 408
// the server sends, which leaves the client in exactly that state, deterministically.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { consume, type ConsumerHandle } from '@switchboard/bus';
import { captureLogger, eventually } from './helpers';
import { startProxiedBuses, type ProxiedBuses } from './fixtures/frame-proxy';

const STREAM = 'PULL_RENEWAL';
const EXPIRES_MS = 4_000; // idle heartbeat 2 s: the old code recovered only after 2 missed ones
/** far below the old recovery (≥ 2 s after the lost status) and far above a loaded machine's delivery */
const BUDGET_MS = 1_000;

let sut: ProxiedBuses;
let handle: ConsumerHandle | undefined;
let dropArmed = false;
const { log, lines } = captureLogger();

before(async () => {
  sut = await startProxiedBuses({
    name: 'pull',
    stream: STREAM,
    subjects: ['pullrenewal.>'],
    log,
    drop: (f) => {
      if (!dropArmed || !/^NATS\/1\.0 408/.test(f.headers)) return false;
      dropArmed = false; // one status lost
      return true;
    },
  });
});
after(async () => {
  await handle?.stop();
  await sut?.close();
});

test('a pull request that ends without a status at the client does not stall consume()', async () => {
  const arrived = new Map<string, number>();
  handle = await consume<string>(sut.consumerBus, {
    stream: STREAM,
    consumer: 'renewal',
    config: { filter_subject: 'pullrenewal.>' },
    decode: (m) => new TextDecoder().decode(m.data),
    handle: async (id) => {
      arrived.set(id, Date.now());
    },
    pullExpiresMs: EXPIRES_MS,
  });
  const deliver = async (id: string): Promise<number> => {
    const sent = Date.now();
    await sut.producer.js.publish(`pullrenewal.${id}`, new TextEncoder().encode(id));
    await eventually(() => arrived.has(id), `message ${id} delivered`, 3 * EXPIRES_MS);
    return arrived.get(id)! - sent;
  };

  assert.ok((await deliver('warm-up')) < BUDGET_MS);
  dropArmed = true;
  await eventually(() => sut.proxy.dropped.length === 1, 'the next pull expiry (its 408 is swallowed)', 3 * EXPIRES_MS);
  await new Promise((r) => setTimeout(r, 50));
  const afterLostStatus = await deliver('after-lost-status');
  assert.ok(afterLostStatus < BUDGET_MS, `delivered ${afterLostStatus} ms after publish, right after a pull ended without a status (budget ${BUDGET_MS} ms)`);

  // And it keeps going across the following expiries (no request counted as alive forever).
  await new Promise((r) => setTimeout(r, EXPIRES_MS + 500));
  const later = await deliver('later');
  assert.ok(later < BUDGET_MS, `delivered ${later} ms after publish, one expiry later`);
  assert.equal(handle.stats().handled, 3);
  // the lost request was written off (and said so), not counted as alive until heartbeats were missed
  assert.ok(lines.some((l) => /written off/.test(String(l['msg']))), 'the written-off pull is logged');
  assert.ok(!lines.some((l) => /heartbeats missed/.test(String(l['msg']))), 'no heartbeat-missed recovery was needed');
});
