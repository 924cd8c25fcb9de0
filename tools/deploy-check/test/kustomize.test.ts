// k8s/: the base is the chart rendered without Helm (checked for staleness); the dev overlay
// renders with the real `kubectl kustomize` and follows the same workload rules.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES } from '../../../libs/contracts/src/subjects';
import { KUSTOMIZE_BASE_DIR, REPO_ROOT, containersOf, k8sTools, kustomize, parseManifests, perServiceProblems, renderKustomizeBase, workloadProblems } from '../src/index';
import type { K8sTools, Manifest } from '../src/index';

const PREFIX = 'switchboard-';

void describe('k8s/ (kustomize)', () => {
  let tools: K8sTools;
  let dev: Manifest[] = [];

  before(() => {
    tools = k8sTools();
    const r = kustomize(tools, join(REPO_ROOT, 'k8s', 'overlays', 'dev'));
    assert.equal(r.status, 0, r.stderr);
    dev = parseManifests(r.stdout);
  });

  void it('k8s/base is exactly the chart rendered with KUSTOMIZE_VALUES (regenerate: node --import tsx tools/deploy-check/src/gen-kustomize-base.ts)', () => {
    const want = renderKustomizeBase(tools);
    const have = readdirSync(KUSTOMIZE_BASE_DIR).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(have, [...want.keys()].sort());
    for (const [file, text] of want) assert.equal(readFileSync(join(KUSTOMIZE_BASE_DIR, file), 'utf8'), text, `k8s/base/${file} is stale`);
  });

  void it('kubectl kustomize k8s/base renders the five services with their PDBs and HPAs', () => {
    const r = kustomize(tools, KUSTOMIZE_BASE_DIR);
    assert.equal(r.status, 0, r.stderr);
    const ms = parseManifests(r.stdout);
    assert.deepEqual(workloadProblems(ms), []);
    assert.deepEqual(perServiceProblems(ms, PREFIX), []);
    assert.equal(ms.filter((m) => m.kind === 'Secret').length, 0, 'the base holds no secret');
  });

  void it('overlays/dev: every container has probes (Deployments), resources, runAsNonRoot, a pinned image; PDB + HPA per service', () => {
    assert.deepEqual(workloadProblems(dev), []);
    assert.deepEqual(perServiceProblems(dev, PREFIX), []);
    assert.ok(dev.every((m) => m.kind === 'Namespace' || m.metadata.namespace === 'switchboard-dev'));
  });

  void it('overlays/dev: one replica minimum, drainable PDBs, streams with one replica on the single NATS node', () => {
    for (const h of dev.filter((m) => m.kind === 'HorizontalPodAutoscaler')) assert.equal((h.spec as { minReplicas: number }).minReplicas, 1);
    for (const p of dev.filter((m) => m.kind === 'PodDisruptionBudget')) assert.deepEqual([(p.spec as { minAvailable?: number }).minAvailable, (p.spec as { maxUnavailable?: number }).maxUnavailable], [undefined, 1]);
    const job = dev.find((m) => m.kind === 'Job' && m.metadata.name === `${PREFIX}provision`);
    assert.ok(job);
    const env = (containersOf(job)[0]?.container as unknown as { env: { name: string; value?: string }[] }).env;
    assert.equal(env.find((e) => e.name === 'STREAM_REPLICAS')?.value, '1');
  });

  void it('overlays/dev: NATS gets every service password from the same Secret the services use, and includes the generated auth config', () => {
    const secret = dev.find((m) => m.kind === 'Secret' && m.metadata.name === `${PREFIX}nats-credentials`);
    assert.ok(secret);
    const keys = Object.keys(secret.data as object).sort();
    assert.deepEqual(keys, [...SERVICES, 'provisioner'].sort());
    const nats = dev.find((m) => m.kind === 'Deployment' && m.metadata.name === 'nats');
    assert.ok(nats);
    const natsEnv = (containersOf(nats)[0]?.container as unknown as { env: { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } }[] }).env;
    assert.deepEqual(natsEnv.map((e) => e.valueFrom.secretKeyRef.key).sort(), keys);
    assert.ok(natsEnv.every((e) => e.valueFrom.secretKeyRef.name === `${PREFIX}nats-credentials`));
    const conf = dev.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'nats-config');
    assert.match((conf?.data as Record<string, string>)['nats.conf'] ?? '', /include \.\/auth\/switchboard-auth\.conf/);
    assert.ok(dev.some((m) => m.kind === 'ConfigMap' && m.metadata.name === `${PREFIX}nats-auth`));
    for (const s of SERVICES) {
      const d = dev.find((m) => m.kind === 'Deployment' && m.metadata.name === `${PREFIX}${s}`);
      assert.ok(d);
      const c = containersOf(d).find((x) => !x.init)?.container as unknown as { image: string; env: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] };
      assert.equal(c.image, 'switchboard:0.1.0');
      assert.deepEqual(c.env.find((e) => e.name === 'NATS_PASSWORD')?.valueFrom?.secretKeyRef, { name: `${PREFIX}nats-credentials`, key: s });
    }
  });
});
