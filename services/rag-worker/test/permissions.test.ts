// The rag-worker under its own NATS credentials (the generated permission matrix, enforced by a
// real nats-server): everything it does — bind/update the shared consumer, create and delete its
// cancel consumer, publish events — is allowed; streams are provisioned by the provisioner.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { Bus, provision } from '@switchboard/bus';
import { PROVISIONER, SERVICES, STREAMS, natsAuthConfig, newSessionId, newTurnId, type NatsUsers } from '@switchboard/contracts';
import { startService } from '@switchboard/runtime';
import { createLogger } from '@switchboard/telemetry';
import { captureLogs, eventually, spawnNode, startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { cancelConsumerName, ragWorkerService } from '../src/index';
import { EventRecorder, sendCancel, sendQuery } from './harness';

const pw = (who: string): string => `pw${who.replace(/-/g, '')}0123456789abcdef`;
const log = createLogger({ service: 'test', level: 'warn' });
const connectAs = (url: string, who: string) => Bus.connect({ servers: url, user: who, pass: pw(who), service: who, log, partitions: 16 });

let server: NatsServerHandle;
let provisioner: Bus;
let orchestrator: Bus;

before(async () => {
  const users = Object.fromEntries([...SERVICES, PROVISIONER].map((s) => [s, { user: s, password: pw(s) }])) as NatsUsers;
  const conf = join(mkdtempSync(join(tmpdir(), 'rag-perm-')), 'auth.conf');
  writeFileSync(conf, natsAuthConfig(users));
  server = await startNatsServer({ configFile: conf });
  provisioner = await connectAs(server.url, PROVISIONER);
  await provision(provisioner.nc, provisioner.jsm);
  orchestrator = await connectAs(server.url, 'session-orchestrator');
});
after(async () => {
  await orchestrator?.drain();
  await provisioner?.drain();
  await server?.stop();
});

it('answers and takes cancels with the rag-worker credentials; refuses to provision with them', async () => {
  const env = { NATS_URL: server.url, NATS_USER: 'rag-worker', NATS_PASSWORD: pw('rag-worker'), HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', PARTITIONS: '16', KB_WATCH: '0', REPLICA_ID: 'rag-perm' };
  // Streams belong to the provisioner: the dev convenience `provision` fails under these
  // credentials (as a process: a failed in-process start would leave its connection open).
  const child = spawnNode(fileURLToPath(new URL('../src/main.ts', import.meta.url)), { env });
  assert.equal(await child.exited, 1);
  assert.ok(child.lines.some((l) => /rag-worker failed to start: provisioning stream \S+ failed after 1 attempt\(s\): Permissions Violation/.test(l)), child.lines.join('\n'));

  const logs = captureLogs();
  const svc = await startService({ ...ragWorkerService, provision: false }, env, { logDestination: logs.stream });
  const events = await EventRecorder.start(orchestrator);
  try {
    const sid = newSessionId();
    await sendCancel(orchestrator, sid, newTurnId());
    await sendQuery(orchestrator, sid, newTurnId(), { text: 'where is my order' });
    const ready = await events.waitFor(sid, 'RAG_ANSWER_READY');
    assert.deepEqual(ready.event.ragAnswerReady!.sourceIds, ['order-tracking']);
    await eventually(() => logs.lines.some((l) => l['msg'] === 'turn cancel remembered'), 'cancel consumed');
  } finally {
    await events.stop();
    await svc.stop();
  }
  const names: string[] = [];
  for await (const c of provisioner.jsm.consumers.list(STREAMS.cmd.rag)) names.push(c.name);
  assert.ok(names.includes('rag-worker'));
  assert.ok(!names.includes(cancelConsumerName('rag-perm')), 'its cancel consumer deleted on stop');
  assert.ok(!logs.lines.some((l) => String(l['msg']).includes('not deleted')), 'no permission trouble at stop');
});
