// k8s/base is the chart rendered once with fixed values (release "switchboard", Secrets managed
// outside, no helm test pod), minus Helm's own metadata — so kustomize users get the same objects
// as Helm users. Regenerate with `node --import tsx tools/deploy-check/src/gen-kustomize-base.ts`;
// a test fails when k8s/base is stale.
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseManifests } from './manifests';
import type { Manifest } from './manifests';
import { REPO_ROOT, chartCopyForRender, helmTemplate } from './render';
import type { K8sTools } from './tools';

export const KUSTOMIZE_BASE_DIR = join(REPO_ROOT, 'k8s', 'base');

/** Values the base is rendered with. Secrets are created by the overlay (or by you). */
export const KUSTOMIZE_VALUES: Record<string, string | number | boolean> = {
  'secrets.existingSecret': 'switchboard-app',
  'natsConnection.auth.existingSecret': 'switchboard-nats-credentials',
  'natsConnection.url': 'nats://nats:4222',
  'tests.enabled': false,
};

const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by'];

function clean(m: Manifest): Manifest {
  const strip = (meta: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined): void => {
    if (!meta) return;
    if (meta.labels) {
      for (const l of HELM_LABELS) delete meta.labels[l];
      meta.labels['app.kubernetes.io/managed-by'] = 'kustomize';
    }
    if (meta.annotations) {
      for (const a of Object.keys(meta.annotations)) if (a.startsWith('helm.sh/')) delete meta.annotations[a];
      if (Object.keys(meta.annotations).length === 0) delete meta.annotations;
    }
  };
  strip(m.metadata);
  const tpl = (m.spec as { template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } } } | undefined)?.template;
  strip(tpl?.metadata);
  if (m.kind === 'Job' && m.spec) {
    // Without Helm's hook-delete-policy, a finished Job must go away so the next apply re-runs it.
    m.spec.ttlSecondsAfterFinished = 300;
  }
  return m;
}

/** file name → content, including kustomization.yaml. */
export function renderKustomizeBase(tools: K8sTools): Map<string, string> {
  const chart = chartCopyForRender();
  try {
    const r = helmTemplate(tools, chart.dir, { release: 'switchboard', set: KUSTOMIZE_VALUES });
    if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
    const files = new Map<string, string>();
    const header = '# Generated from deploy/helm/switchboard by tools/deploy-check/src/gen-kustomize-base.ts — do not edit.\n';
    for (const m of parseManifests(r.stdout).map(clean)) {
      const file = `${m.metadata.name}.${m.kind.toLowerCase()}.yaml`;
      if (files.has(file)) throw new Error(`two objects map to ${file}`);
      files.set(file, header + stringify(m, { lineWidth: 0 }));
    }
    const resources = [...files.keys()].sort();
    files.set('kustomization.yaml', `${header}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${resources.map((f) => `  - ${f}`).join('\n')}\n`);
    return files;
  } finally {
    chart.cleanup();
  }
}
