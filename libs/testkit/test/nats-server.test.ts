import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { canConnect, freePort, startNatsServer } from '@switchboard/testkit';

void describe('startNatsServer', () => {
  void it('starts on a free port with JetStream enabled and a store in its own temp dir', async () => {
    const srv = await startNatsServer();
    try {
      assert.match(srv.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(srv.pid > 0);
      const nc = await connect({ servers: srv.url });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.getAccountInfo();
      assert.equal(info.streams, 0);
      const jsz = (await (await fetch(`http://127.0.0.1:${srv.monitorPort}/jsz`)).json()) as { config: { store_dir: string } };
      assert.equal(jsz.config.store_dir, `${srv.storeDir}/jetstream`);
      await nc.close();
    } finally {
      await srv.stop();
    }
    assert.equal(srv.running, false);
    assert.equal(await canConnect(srv.port), false, 'port closed after stop');
    assert.match(srv.logs(), /Server is ready/);
  });

  void it('keeps file-store stream data across kill -9 and restart on the same port', async () => {
    const srv = await startNatsServer();
    try {
      let nc = await connect({ servers: srv.url, maxReconnectAttempts: 0 });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'CALLS', subjects: ['calls.>'], storage: StorageType.File });
      const js = jetstream(nc);
      for (let i = 0; i < 50; i++) await js.publish(`calls.${i % 5}`, `event-${i}`);
      const firstPid = srv.pid;
      const closed = nc.closed();
      await srv.kill(); // SIGKILL
      assert.equal(srv.running, false);
      await closed;
      assert.equal(await canConnect(srv.port), false);

      await srv.restart();
      assert.notEqual(srv.pid, firstPid);
      nc = await connect({ servers: srv.url });
      const jsm2 = await jetstreamManager(nc);
      const info = await jsm2.streams.info('CALLS');
      assert.equal(info.state.messages, 50);
      const last = await jsm2.streams.getMessage('CALLS', { seq: 50 });
      assert.equal(last?.string(), 'event-49');
      await nc.close();
    } finally {
      await srv.stop();
    }
  });

  void it('pause freezes the server (requests time out) and resume brings it back', async () => {
    const srv = await startNatsServer({ jetstream: false });
    try {
      const nc = await connect({ servers: srv.url });
      const sub = nc.subscribe('echo', { callback: (_e, m) => {
        m.respond(m.data);
      } });
      assert.equal((await nc.request('echo', 'a', { timeout: 1000 })).string(), 'a');
      srv.pause();
      await assert.rejects(nc.request('echo', 'b', { timeout: 300 }));
      srv.resume();
      assert.equal((await nc.request('echo', 'c', { timeout: 2000 })).string(), 'c');
      sub.unsubscribe();
      await nc.close();
      // stop() of a paused server still terminates it gracefully.
      srv.pause();
      await srv.stop();
      assert.equal(srv.running, false);
    } finally {
      await srv.stop();
    }
  });

  void it('honours an explicit port and store dir, extra args and a config file', async () => {
    const { tempDir } = await import('@switchboard/testkit');
    const dir = await tempDir('tk-conf');
    const { writeFile } = await import('node:fs/promises');
    const conf = `${dir}/server.conf`;
    await writeFile(conf, 'max_payload: 2048\n');
    const port = await freePort();
    const srv = await startNatsServer({ port, storeDir: `${dir}/store`, configFile: conf, args: ['-D'] });
    try {
      assert.equal(srv.port, port);
      assert.equal(srv.storeDir, `${dir}/store`);
      const nc = await connect({ servers: srv.url });
      assert.equal(nc.info?.max_payload, 2048);
      await nc.close();
      assert.match(srv.logs(), /\[DBG\]/, '-D (debug) took effect');
    } finally {
      await srv.stop();
    }
  });

  void it('fails fast with the server log when the server cannot start', async () => {
    const a = await startNatsServer({ jetstream: false });
    try {
      const started = Date.now();
      await assert.rejects(startNatsServer({ port: a.port, jetstream: false }), (err: Error) => {
        assert.match(err.message, /exited during start-up/);
        assert.match(err.message, /address already in use/);
        return true;
      });
      assert.ok(Date.now() - started < 5000);
    } finally {
      await a.stop();
    }
  });
});
