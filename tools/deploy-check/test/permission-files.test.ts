// The deployment's copies of the permission matrix are generated, never hand-edited: stale
// copies fail here. And the chart's rendered nats-server auth config is loaded into a real
// nats-server to show it parses and enforces the matrix.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { newSessionId } from '../../../libs/contracts/src/ids';
import { PRINCIPALS, passwordEnvName, permissionMatrix } from '../../../libs/contracts/src/permissions';
import { STREAMS, subjects } from '../../../libs/contracts/src/subjects';
import {
  NATS_AUTH_VALUES_PATH,
  PERMISSIONS_JSON_PATH,
  REPO_ROOT,
  chartCopyForRender,
  helmTemplate,
  k8sTools,
  parseManifests,
  renderNatsAuthValues,
  renderPermissionsJson,
} from '../src/index';

const REGEN = 'run: bash deploy/scripts/gen-permissions.sh';

void describe('files generated from the permission matrix', () => {
  void it('deploy/helm/switchboard/files/permissions.json is up to date', () => {
    assert.equal(readFileSync(join(REPO_ROOT, PERMISSIONS_JSON_PATH), 'utf8'), renderPermissionsJson(), `stale — ${REGEN}`);
  });
  void it('deploy/helm/nats-auth-values.yaml is up to date and carries every user with the matrix', () => {
    const text = readFileSync(join(REPO_ROOT, NATS_AUTH_VALUES_PATH), 'utf8');
    assert.equal(text, renderNatsAuthValues(), `stale — ${REGEN}`);
    const v = parse(text) as { config: { merge: { authorization: { users: { user: string; password: string; permissions: { publish: { allow: string[] } } }[] } } }; container: { env: Record<string, unknown> } };
    const users = v.config.merge.authorization.users;
    assert.deepEqual(users.map((u) => u.user), [...PRINCIPALS]);
    for (const u of users) {
      assert.equal(u.password, `<< $${passwordEnvName(u.user as (typeof PRINCIPALS)[number])} >>`);
      assert.deepEqual(u.permissions.publish.allow, permissionMatrix()[u.user as (typeof PRINCIPALS)[number]].publish.allow);
    }
    assert.equal(Object.keys(v.container.env).length, PRINCIPALS.length);
  });
});

void describe('deploy/helm/nats-values.yaml', () => {
  void it('describes a 3-node JetStream cluster on file storage with sync_interval: always', () => {
    const v = parse(readFileSync(join(REPO_ROOT, 'deploy', 'helm', 'nats-values.yaml'), 'utf8')) as {
      config: { cluster: { enabled: boolean; replicas: number }; jetstream: { enabled: boolean; fileStore: { enabled: boolean; pvc: { enabled: boolean } }; merge: { sync_interval: string } }; monitor: { enabled: boolean } };
    };
    assert.deepEqual([v.config.cluster.enabled, v.config.cluster.replicas], [true, 3]);
    assert.equal(v.config.jetstream.enabled, true);
    assert.equal(v.config.jetstream.fileStore.enabled && v.config.jetstream.fileStore.pvc.enabled, true);
    assert.equal(v.config.jetstream.merge.sync_interval, 'always');
    assert.equal(v.config.monitor.enabled, true, 'KEDA reads /jsz on the monitoring port');
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

void describe('the chart-rendered nats-server auth config', () => {
  let dir = '';
  let server: ChildProcess | undefined;
  let port = 0;
  const passwords: Record<string, string> = {};

  before(async () => {
    const tools = k8sTools();
    const chart = chartCopyForRender();
    let rendered: string;
    try {
      const r = helmTemplate(tools, chart.dir, { set: { 'secrets.signalingSecret': 'test-signaling-secret-0123456789' } });
      assert.equal(r.status, 0, r.stderr);
      rendered = r.stdout;
    } finally {
      chart.cleanup();
    }
    const ms = parseManifests(rendered);
    const cm = ms.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'switchboard-nats-auth');
    assert.ok(cm, 'nats auth ConfigMap rendered');
    const creds = ms.find((m) => m.kind === 'Secret' && m.metadata.name === 'switchboard-nats-credentials');
    assert.ok(creds);
    Object.assign(passwords, creds.stringData as Record<string, string>);
    // The server layout the README documents: main config includes ./auth/switchboard-auth.conf.
    dir = mkdtempSync(join(tmpdir(), 'sb-chart-nats-'));
    mkdirSync(join(dir, 'auth'));
    writeFileSync(join(dir, 'auth', 'switchboard-auth.conf'), (cm.data as Record<string, string>)['switchboard-auth.conf'] ?? '');
    port = await freePort();
    writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }\ninclude ./auth/switchboard-auth.conf\n`);
    const env = { ...process.env, ...Object.fromEntries(PRINCIPALS.map((p) => [passwordEnvName(p), passwords[p] ?? ''])) };
    server = spawn('/usr/sbin/nats-server', ['-c', join(dir, 'nats.conf')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const nc = await connect({ servers: `127.0.0.1:${port}`, user: 'provisioner', pass: passwords.provisioner, timeout: 500, reconnect: false });
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: STREAMS.events, subjects: [subjects.eventsAll] });
        await jsm.streams.add({ name: STREAMS.cmd.tts, subjects: [subjects.commandsOf('tts')] });
        await nc.close();
        break;
      } catch (err) {
        if (Date.now() > deadline || server.exitCode !== null) throw new Error(`nats-server with the chart's config did not start: ${String(err)}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  after(async () => {
    server?.kill('SIGTERM');
    if (server && server.exitCode === null) await new Promise((r) => server?.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  });

  void it('rag-worker (generated password from the Secret) publishes events but not TTS commands', async () => {
    const nc = await connect({ servers: `127.0.0.1:${port}`, user: 'rag-worker', pass: passwords['rag-worker'], timeout: 2000, reconnect: false });
    try {
      const js = jetstream(nc);
      const sid = newSessionId();
      const ack = await js.publish(subjects.event(sid, 'RAG_ANSWER_READY', 64), 'x');
      assert.equal(ack.stream, STREAMS.events);
      await assert.rejects(js.publish(subjects.command('tts', sid, 'TTS_SPEAK'), 'x'), /Permissions Violation for Publish/);
    } finally {
      await nc.close();
    }
  });

  void it('a wrong password is refused', async () => {
    await assert.rejects(connect({ servers: `127.0.0.1:${port}`, user: 'rag-worker', pass: passwords['tts-streamer'], timeout: 2000, reconnect: false }));
  });
});
