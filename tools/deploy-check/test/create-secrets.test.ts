// deploy/scripts/create-secrets.sh (README step 2), run in DRY_RUN mode with the real kubectl:
// the Secrets have the keys the chart and the NATS values read, and passwords nats-server accepts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { NATS_ENV_PASSWORD_RE, PRINCIPALS } from '../../../libs/contracts/src/permissions';
import { REPO_ROOT, k8sTools, parseManifests } from '../src/index';

void describe('deploy/scripts/create-secrets.sh', () => {
  void it('creates switchboard-nats-credentials (one env-safe password per user) and switchboard-app', () => {
    const { kubectl } = k8sTools();
    const runOnce = (): Map<string, Record<string, string>> => {
      const r = spawnSync('bash', [join(REPO_ROOT, 'deploy', 'scripts', 'create-secrets.sh'), 'voice'], {
        env: { ...process.env, DRY_RUN: '1', KUBECTL: kubectl, KUBECONFIG: '/nonexistent' },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const out = new Map<string, Record<string, string>>();
      for (const m of parseManifests(r.stdout)) {
        assert.equal(m.metadata.namespace, 'voice');
        const data = Object.fromEntries(Object.entries(m.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
        out.set(m.metadata.name, data);
      }
      return out;
    };
    const a = runOnce();
    const nats = a.get('switchboard-nats-credentials');
    assert.ok(nats);
    assert.deepEqual(Object.keys(nats).sort(), [...PRINCIPALS].sort());
    for (const pw of Object.values(nats)) assert.match(pw, NATS_ENV_PASSWORD_RE);
    assert.equal(new Set(Object.values(nats)).size, PRINCIPALS.length, 'every user has its own password');
    const app = a.get('switchboard-app');
    assert.ok((app?.SIGNALING_SECRET?.length ?? 0) >= 32);
    assert.notEqual(runOnce().get('switchboard-app')?.SIGNALING_SECRET, app?.SIGNALING_SECRET, 'fresh random values');
  });
});
