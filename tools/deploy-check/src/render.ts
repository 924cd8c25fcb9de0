// Rendering the chart and the kustomize overlays with the real tools.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { run } from './tools';
import type { K8sTools, RunResult } from './tools';

export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'deploy', 'helm', 'switchboard');

/**
 * A copy of the chart without the `dependencies:` declaration. Helm refuses to render a chart
 * whose declared dependency was not downloaded — even when its condition (nats.enabled) is
 * false — and charts cannot be downloaded here. With nats.enabled=false the rendered objects
 * are identical, which is what CI checks. Returns the copy's path and a cleanup function.
 */
export function chartCopyForRender(): { dir: string; cleanup: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'sb-chart-'));
  const dir = join(base, 'switchboard');
  cpSync(CHART_DIR, dir, { recursive: true });
  const chart = parse(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  delete chart.dependencies;
  writeFileSync(join(dir, 'Chart.yaml'), stringify(chart));
  return { dir, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

function valueArgs(set: Record<string, string | number | boolean>, valuesFiles: string[]): string[] {
  const args: string[] = [];
  for (const f of valuesFiles) args.push('-f', f);
  for (const [k, v] of Object.entries(set)) args.push(typeof v === 'string' ? '--set-string' : '--set', `${k}=${String(v)}`);
  return args;
}

export function helmTemplate(
  tools: K8sTools,
  chartDir: string,
  opts: { release?: string; namespace?: string; set?: Record<string, string | number | boolean>; valuesFiles?: string[]; extraArgs?: string[] } = {},
): RunResult {
  return run(tools.helm, ['template', opts.release ?? 'switchboard', chartDir, '--namespace', opts.namespace ?? 'switchboard', ...valueArgs(opts.set ?? {}, opts.valuesFiles ?? []), ...(opts.extraArgs ?? [])]);
}

/** `helm lint`, with --strict (warnings fail) unless `strict: false`. */
export function helmLint(tools: K8sTools, chartDir: string, opts: { set?: Record<string, string | number | boolean>; valuesFiles?: string[]; strict?: boolean } = {}): RunResult {
  return run(tools.helm, ['lint', ...(opts.strict === false ? [] : ['--strict']), chartDir, ...valueArgs(opts.set ?? {}, opts.valuesFiles ?? [])]);
}

export function kustomize(tools: K8sTools, dir: string): RunResult {
  return run(tools.kubectl, ['kustomize', dir]);
}
