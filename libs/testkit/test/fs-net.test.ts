import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ephemeralPortRange, freePort } from '@switchboard/testkit';

function listenOn(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

void describe('freePort', () => {
  void it('gives ports below the ephemeral range that a child can then listen on', async () => {
    const { low, high } = ephemeralPortRange();
    assert.ok(low > 1024 && high >= low, `range ${low}-${high}`);
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      // A port from the ephemeral range can be taken by any outgoing connection before the child binds it.
      assert.ok(port >= 20_000 && port < low, `port ${port} is outside [20000, ${low})`);
      const srv = await listenOn(port);
      await new Promise((r) => srv.close(r));
    }
  });

  void it('never returns a port something is listening on', async () => {
    const taken: net.Server[] = [];
    try {
      const seen = new Set<number>();
      for (let i = 0; i < 30; i++) {
        const port = await freePort();
        assert.ok(!seen.has(port), `port ${port} handed out while still in use`);
        seen.add(port);
        taken.push(await listenOn(port));
      }
    } finally {
      await Promise.all(taken.map((s) => new Promise((r) => s.close(r))));
    }
  });
});
