// Writes k8s/base from the Helm chart (see kustomize-base.ts). Run from anywhere:
//   node --import tsx tools/deploy-check/src/gen-kustomize-base.ts
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KUSTOMIZE_BASE_DIR, renderKustomizeBase } from './kustomize-base';
import { k8sTools } from './tools';

const files = renderKustomizeBase(k8sTools());
mkdirSync(KUSTOMIZE_BASE_DIR, { recursive: true });
for (const f of readdirSync(KUSTOMIZE_BASE_DIR)) if (f.endsWith('.yaml') && !files.has(f)) rmSync(join(KUSTOMIZE_BASE_DIR, f));
for (const [f, text] of files) writeFileSync(join(KUSTOMIZE_BASE_DIR, f), text);
console.log(`wrote ${files.size} files to ${KUSTOMIZE_BASE_DIR}`);
