// The permission matrix is the specification of who may say what on the bus. The first part
// checks the matrix as data; the second loads the generated config into a real nats-server and
// proves the server enforces it (denials observed from the client, allowed paths observed end to end).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, PermissionViolationError } from '@nats-io/transport-node';
import type { NatsConnection, Status } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { newSessionId } from '../src/ids';
import { BUCKETS, COMMAND_TARGETS, SERVICES, STREAMS, subjects } from '../src/subjects';
import type { ServiceName } from '../src/subjects';
import { NATS_ENV_PASSWORD_RE, PRINCIPALS, PROVISIONER, natsAuthConfig, passwordEnvName, permissionsFor } from '../src/permissions';
import type { NatsUsers, Principal } from '../src/permissions';

/** nats-server subject matching: `*` one token, `>` one or more trailing tokens. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
const mayPublish = (who: Principal, subject: string): boolean => permissionsFor(who).publish.allow.some((p) => matches(p, subject));
const maySubscribe = (who: Principal, subject: string): boolean => permissionsFor(who).subscribe.allow.some((p) => matches(p, subject));
const publishers = (subject: string): Principal[] => PRINCIPALS.filter((w) => mayPublish(w, subject));

const SID = newSessionId();
/** How the client reports a request the server refused for lack of permission. */
const VIOLATION = /Permissions Violation for Publish/;
const P = 64;

void describe('permission matrix (data)', () => {
  void it('only the orchestrator publishes commands, to every target', () => {
    for (const target of COMMAND_TARGETS) {
      assert.deepEqual(publishers(subjects.command(target, SID, 'X')), ['session-orchestrator'], target);
    }
  });
  void it('caller audio only from the gateway, agent audio only from the tts-streamer, UI updates only from the orchestrator', () => {
    assert.deepEqual(publishers(subjects.audioIn(SID, P)), ['sfu-gateway']);
    assert.deepEqual(publishers(subjects.audioOut(SID)), ['tts-streamer']);
    assert.deepEqual(publishers(subjects.sessionUpdates(SID)), ['session-orchestrator']);
  });
  void it('every service publishes events and dead-letters under its own name only', () => {
    for (const s of SERVICES) {
      assert.ok(mayPublish(s, subjects.event(SID, 'CALL_STARTED', P)), s);
      assert.deepEqual(publishers(subjects.dlq(s, 'invalid')), [s]);
    }
    assert.equal(mayPublish(PROVISIONER, subjects.event(SID, 'CALL_STARTED', P)), false);
  });
  void it('each service reads only what it consumes', () => {
    assert.ok(maySubscribe('stt-adapter', subjects.audioIn(SID, P)));
    assert.ok(maySubscribe('sfu-gateway', subjects.audioOut(SID)));
    assert.ok(maySubscribe('sfu-gateway', subjects.sessionUpdates(SID)));
    for (const s of ['rag-worker', 'tts-streamer', 'session-orchestrator', 'sfu-gateway'] as const) {
      assert.equal(maySubscribe(s, subjects.audioIn(SID, P)), false, s);
    }
    assert.equal(maySubscribe('rag-worker', subjects.command('tts', SID, 'TTS_SPEAK')), false);
    assert.ok(maySubscribe('rag-worker', subjects.command('rag', SID, 'RAG_QUERY')));
  });
  void it('JetStream: only the provisioner manages streams; services reach only their own streams and buckets', () => {
    for (const s of SERVICES) {
      assert.equal(mayPublish(s, `$JS.API.STREAM.CREATE.${STREAMS.events}`), false, s);
      assert.equal(mayPublish(s, `$JS.API.STREAM.DELETE.${STREAMS.events}`), false, s);
      assert.equal(mayPublish(s, `$JS.API.STREAM.PURGE.${STREAMS.events}`), false, s);
    }
    assert.ok(mayPublish(PROVISIONER, `$JS.API.STREAM.CREATE.${STREAMS.events}`));
    assert.ok(mayPublish('rag-worker', `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.cmd.rag}.rag-worker`));
    assert.equal(mayPublish('rag-worker', `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.cmd.tts}.tts-streamer`), false);
    assert.deepEqual(publishers(`$KV.${BUCKETS.sessions}.${SID}`), ['session-orchestrator']);
    assert.deepEqual(publishers(`$KV.${BUCKETS.aliases}.x`), ['sfu-gateway']);
    assert.deepEqual(publishers(`$KV.${BUCKETS.leases}.p1`).sort(), ['session-orchestrator', 'stt-adapter']);
  });
  void it('the rendered config refuses missing or empty credentials and bad env names', () => {
    const users = Object.fromEntries(SERVICES.map((s) => [s, { user: s, password: 'pw' }])) as NatsUsers;
    assert.match(natsAuthConfig(users), /authorization \{/);
    const missing = { ...users } as Partial<NatsUsers>;
    delete missing['tts-streamer'];
    assert.throws(() => natsAuthConfig(missing as NatsUsers), /no credential for tts-streamer/);
    assert.throws(() => natsAuthConfig({ ...users, 'rag-worker': { user: 'r', password: '' } }), /empty password/);
    assert.throws(() => natsAuthConfig({ ...users, 'rag-worker': { user: 'r', passwordEnv: 'A-B' } }), /bad env name/);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// Service passwords travel through the environment (nats-server parses a `$VAR` value as config
// syntax, so they must be plain: see NATS_ENV_PASSWORD_RE); the provisioner's is a quoted literal.
const PW: Record<Principal, string> = Object.fromEntries(
  PRINCIPALS.map((p) => [p, p === PROVISIONER ? `pw "quoted" \\ ${p}` : `pw${p.replace(/-/g, '')}0123456789abcdef`]),
) as Record<Principal, string>;

void describe('permission matrix enforced by a real nats-server', () => {
  let dir = '';
  let server: ChildProcess | undefined;
  let port = 0;
  const conns: NatsConnection[] = [];
  const errors = new Map<NatsConnection, PermissionViolationError[]>();

  async function as(who: Principal): Promise<NatsConnection> {
    const nc = await connect({ servers: `127.0.0.1:${port}`, user: who, pass: PW[who], timeout: 2000, reconnect: false });
    conns.push(nc);
    const seen: PermissionViolationError[] = [];
    errors.set(nc, seen);
    void (async () => {
      for await (const s of nc.status() as AsyncIterable<Status>) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError) seen.push(s.error);
      }
    })();
    return nc;
  }

  /** Waits until the server reported a publish violation on `subject` to this connection. */
  async function publishDenied(nc: NatsConnection, subject: string): Promise<void> {
    const deadline = Date.now() + 2000;
    for (;;) {
      if ((errors.get(nc) ?? []).some((e) => e.operation === 'publish' && e.subject === subject)) return;
      if (Date.now() > deadline) assert.fail(`expected a publish permission violation for ${subject}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Collects what a subscription receives during `ms`. */
  async function received(nc: NatsConnection, subject: string, action: () => Promise<void>, ms = 300): Promise<string[]> {
    const got: string[] = [];
    const sub = nc.subscribe(subject, { callback: (_e, m) => { got.push(m.subject); } });
    await nc.flush();
    await action();
    await new Promise((r) => setTimeout(r, ms));
    sub.unsubscribe();
    return got;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-perm-'));
    // Services read passwords from the environment (as in the Helm chart); the provisioner's is literal.
    const users = Object.fromEntries(SERVICES.map((s) => [s, { user: s, passwordEnv: passwordEnvName(s) }])) as NatsUsers;
    users[PROVISIONER] = { user: PROVISIONER, password: PW[PROVISIONER] };
    const conf = join(dir, 'auth.conf');
    writeFileSync(conf, natsAuthConfig(users));
    port = await freePort();
    for (const s of SERVICES) assert.match(PW[s], NATS_ENV_PASSWORD_RE);
    const env = { ...process.env, ...Object.fromEntries(SERVICES.map((s) => [passwordEnvName(s), PW[s]])) };
    server = spawn('/usr/sbin/nats-server', ['-c', conf, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const nc = await connect({ servers: `127.0.0.1:${port}`, user: PROVISIONER, pass: PW[PROVISIONER], timeout: 500, reconnect: false });
        await nc.close();
        break;
      } catch (err) {
        if (Date.now() > deadline || server.exitCode !== null) throw new Error(`nats-server did not start: ${String(err)}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Provision streams, consumers and buckets as the provisioner (what tools/provision does).
    const nc = await as(PROVISIONER);
    const jsm = await jetstreamManager(nc);
    const streams: [string, string][] = [
      [STREAMS.events, subjects.eventsAll],
      [STREAMS.audioIn, subjects.audioInAll],
      [STREAMS.audioOut, subjects.audioOutAll],
      [STREAMS.dlq, subjects.dlqAll],
      ...COMMAND_TARGETS.map((t): [string, string] => [STREAMS.cmd[t], subjects.commandsOf(t)]),
    ];
    for (const [name, subj] of streams) {
      await jsm.streams.add({ name, subjects: [subj], storage: StorageType.Memory, retention: RetentionPolicy.Limits, duplicate_window: 120_000_000_000 });
    }
    await jsm.consumers.add(STREAMS.cmd.rag, { durable_name: 'rag-worker', ack_policy: AckPolicy.Explicit, filter_subject: subjects.commandsOfType('rag', 'RAG_QUERY') });
    const kvm = new Kvm(nc);
    for (const b of Object.values(BUCKETS)) await kvm.create(b, { history: 1 });
  });

  after(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    server?.kill('SIGTERM');
    if (server && server.exitCode === null) await new Promise((r) => server?.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  });

  void it('rejects a wrong password', async () => {
    await assert.rejects(connect({ servers: `127.0.0.1:${port}`, user: 'rag-worker', pass: 'nope', timeout: 2000, reconnect: false }));
  });

  void it('rag-worker: may not publish a TTS command; the orchestrator may', async () => {
    const rag = await as('rag-worker');
    const orch = await as('session-orchestrator');
    const tts = await as('tts-streamer');
    const subject = subjects.command('tts', SID, 'TTS_SPEAK');
    const fromRag = await received(tts, subjects.commandsOf('tts'), async () => {
      rag.publish(subject, 'forged');
      await rag.flush();
    });
    await publishDenied(rag, subject);
    assert.deepEqual(fromRag, []);
    const fromOrch = await received(tts, subjects.commandsOf('tts'), async () => {
      orch.publish(subject, 'real');
      await orch.flush();
    });
    assert.deepEqual(fromOrch, [subject]);
  });

  void it('rag-worker: may not subscribe to caller audio; the stt-adapter may', async () => {
    const rag = await as('rag-worker');
    const sub = rag.subscribe(subjects.audioInAll);
    const closed = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r('still open'), 2000))]);
    assert.ok(closed instanceof PermissionViolationError, `expected a subscription violation, got ${String(closed)}`);
    assert.equal(closed.operation, 'subscription');

    const gw = await as('sfu-gateway');
    const stt = await as('stt-adapter');
    const frame = subjects.audioIn(SID, P);
    const got = await received(stt, subjects.audioInAll, async () => {
      gw.publish(frame, new Uint8Array(640));
      await gw.flush();
    });
    assert.deepEqual(got, [frame]);
  });

  void it('rag-worker: consumes its command stream, publishes its events through JetStream, and cannot manage streams', async () => {
    const orch = await as('session-orchestrator');
    const rag = await as('rag-worker');
    const ack = await jetstream(orch).publish(subjects.command('rag', SID, 'RAG_QUERY'), 'q', { msgID: `${SID}:1:0` });
    assert.equal(ack.stream, STREAMS.cmd.rag);

    const js = jetstream(rag);
    const consumer = await js.consumers.get(STREAMS.cmd.rag, 'rag-worker');
    const m = await consumer.next({ expires: 2000 });
    assert.ok(m, 'rag-worker received its RAG_QUERY');
    assert.equal(m.subject, subjects.command('rag', SID, 'RAG_QUERY'));
    assert.equal(await m.ackAck(), true);

    const evt = await js.publish(subjects.event(SID, 'RAG_ANSWER_READY', P), 'a');
    assert.equal(evt.stream, STREAMS.events);
    const dlq = await js.publish(subjects.dlq('rag-worker', 'invalid'), 'bad');
    assert.equal(dlq.stream, STREAMS.dlq);

    // Not its streams: reading caller audio or the TTS commands, managing streams.
    await assert.rejects(js.consumers.get(STREAMS.audioIn), VIOLATION);
    const jsm = await jetstreamManager(rag);
    await assert.rejects(jsm.streams.delete(STREAMS.events), VIOLATION);
    await assert.rejects(jsm.streams.add({ name: 'ROGUE', subjects: ['rogue.>'] }), VIOLATION);
    await assert.rejects(jsm.consumers.add(STREAMS.cmd.tts, { durable_name: 'steal', ack_policy: AckPolicy.Explicit }), VIOLATION);
    await assert.rejects(js.publish(subjects.command('tts', SID, 'TTS_SPEAK'), 'forged'), VIOLATION);
  });

  void it('tts-streamer: publishes agent audio but cannot inject caller audio or commands', async () => {
    const tts = await as('tts-streamer');
    const gw = await as('sfu-gateway');
    const out = subjects.audioOut(SID);
    const got = await received(gw, subjects.audioOutAll, async () => {
      tts.publish(out, new Uint8Array(640));
      await tts.flush();
    });
    assert.deepEqual(got, [out]);
    const forgedIn = subjects.audioIn(SID, P);
    tts.publish(forgedIn, new Uint8Array(640));
    await publishDenied(tts, forgedIn);
    const forgedCmd = subjects.command('gateway', SID, 'PLAYBACK_FLUSH');
    tts.publish(forgedCmd, 'x');
    await publishDenied(tts, forgedCmd);
  });

  void it('KV: the orchestrator owns sessions and reads aliases; the gateway writes aliases but cannot touch sessions; stt-adapter takes leases', async () => {
    const orch = await as('session-orchestrator');
    const gw = await as('sfu-gateway');
    const stt = await as('stt-adapter');

    const sessions = await new Kvm(orch).open(BUCKETS.sessions);
    const rev = await sessions.create(SID, '{"state":"IDLE"}');
    assert.ok((await sessions.update(SID, '{"state":"LISTENING"}', rev)) > rev);

    const aliasesGw = await new Kvm(gw).open(BUCKETS.aliases);
    await aliasesGw.put('call-123', SID);
    const aliasesOrch = await new Kvm(orch).open(BUCKETS.aliases);
    assert.equal((await aliasesOrch.get('call-123'))?.string(), SID);
    await assert.rejects(aliasesOrch.put('call-123', 'ses_forged'), VIOLATION);

    await assert.rejects(async () => {
      const s = await new Kvm(gw).open(BUCKETS.sessions);
      await s.get(SID);
    }, VIOLATION);

    const leases = await new Kvm(stt).open(BUCKETS.leases);
    assert.ok((await leases.create('stt.p7', 'replica-a')) > 0);
    await assert.rejects(async () => {
      const s = await new Kvm(stt).open(BUCKETS.sessions);
      await s.put(SID, 'x');
    }, VIOLATION);
  });

  void it('every service can bind the streams it consumes', async () => {
    const consumes: Record<ServiceName, string[]> = {
      'sfu-gateway': [STREAMS.cmd.gateway, STREAMS.audioOut],
      'stt-adapter': [STREAMS.audioIn, STREAMS.cmd.stt],
      'session-orchestrator': [STREAMS.events],
      'rag-worker': [STREAMS.cmd.rag],
      'tts-streamer': [STREAMS.cmd.tts],
    };
    for (const s of SERVICES) {
      const nc = await as(s);
      const js = jetstream(nc);
      for (const stream of consumes[s]) {
        // An ordered consumer exercises consumer create + next + (implicit) delete.
        const c = await js.consumers.get(stream);
        const m = await c.next({ expires: 1000 });
        assert.ok(m === null || typeof m.subject === 'string', `${s} on ${stream}`);
        await c.delete();
      }
    }
  });
});
