// Parsing rendered manifests and the rules every workload must follow.
import { parseAllDocuments } from 'yaml';
import { SERVICES } from '../../../libs/contracts/src/subjects';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Every non-empty YAML document; a YAML error (e.g. a duplicate key) throws. */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text, { uniqueKeys: true })) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Manifest | null;
    if (value === null || value === undefined) continue;
    out.push(value);
  }
  return out;
}

interface Container {
  name: string;
  image?: string;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  securityContext?: { runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean };
}

interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean };
}

function podSpecOf(m: Manifest): PodSpec | undefined {
  if (m.kind === 'Pod') return m.spec as PodSpec;
  if (m.kind === 'Deployment' || m.kind === 'StatefulSet' || m.kind === 'Job' || m.kind === 'DaemonSet') {
    return (m.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
  }
  return undefined;
}

export function containersOf(m: Manifest): { container: Container; init: boolean; pod: PodSpec }[] {
  const pod = podSpecOf(m);
  if (!pod) return [];
  return [...(pod.initContainers ?? []).map((c) => ({ container: c, init: true, pod })), ...(pod.containers ?? []).map((c) => ({ container: c, init: false, pod }))];
}

/**
 * Problems with workloads: every container needs CPU+memory requests and limits, runs as
 * non-root without privilege escalation, uses a pinned image (no `:latest`, no missing tag);
 * long-running containers (Deployments) need liveness and readiness probes.
 * `thirdParty` names images exempt from the non-root rule (e.g. the dev overlay's NATS server).
 */
export function workloadProblems(manifests: Manifest[], opts: { thirdPartyImages?: RegExp } = {}): string[] {
  const problems: string[] = [];
  for (const m of manifests) {
    for (const { container: c, init, pod } of containersOf(m)) {
      const where = `${m.kind}/${m.metadata.name} container ${c.name}`;
      const image = c.image ?? '';
      const tag = image.includes('@') ? 'digest' : image.split('/').pop()?.split(':')[1];
      if (!tag) problems.push(`${where}: image ${image} has no tag`);
      if (tag === 'latest') problems.push(`${where}: image ${image} uses :latest`);
      const third = opts.thirdPartyImages?.test(image) ?? false;
      const nonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
      if (nonRoot !== true && !third) problems.push(`${where}: runAsNonRoot is not true`);
      if (c.securityContext?.allowPrivilegeEscalation !== false && !third) problems.push(`${where}: allowPrivilegeEscalation is not false`);
      for (const k of ['requests', 'limits'] as const) {
        const r = c.resources?.[k];
        if (!r || r.cpu === undefined || r.memory === undefined) problems.push(`${where}: resources.${k} needs cpu and memory`);
      }
      if (m.kind === 'Deployment' && !init) {
        if (!c.livenessProbe) problems.push(`${where}: no livenessProbe`);
        if (!c.readinessProbe) problems.push(`${where}: no readinessProbe`);
      }
    }
  }
  return problems;
}

function selects(m: Manifest, service: string): boolean {
  const sel = (m.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels;
  return sel?.['app.kubernetes.io/name'] === service;
}

function targets(m: Manifest, deployment: string): boolean {
  const ref = (m.spec as { scaleTargetRef?: { name?: string } } | undefined)?.scaleTargetRef;
  return ref?.name === deployment;
}

/** Each of the five services has a Deployment, a Service, a PDB and an autoscaler (HPA or KEDA ScaledObject). */
export function perServiceProblems(manifests: Manifest[], prefix: string): string[] {
  const problems: string[] = [];
  for (const s of SERVICES) {
    const name = `${prefix}${s}`;
    const dep = manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === name);
    if (!dep) problems.push(`no Deployment ${name}`);
    if (!manifests.some((m) => m.kind === 'Service' && m.metadata.name === name)) problems.push(`no Service ${name}`);
    if (!manifests.some((m) => m.kind === 'PodDisruptionBudget' && selects(m, s))) problems.push(`no PodDisruptionBudget for ${s}`);
    const scalers = manifests.filter((m) => (m.kind === 'HorizontalPodAutoscaler' || m.kind === 'ScaledObject') && targets(m, name));
    if (scalers.length !== 1) problems.push(`${s}: expected exactly one HPA or ScaledObject, found ${scalers.length}`);
  }
  return problems;
}
