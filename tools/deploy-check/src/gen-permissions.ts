// Writes the deployment files derived from the permission matrix (run from anywhere):
//   bash deploy/scripts/gen-permissions.sh   (= node --import tsx tools/deploy-check/src/gen-permissions.ts)
// tools/deploy-check/test/permission-files.test.ts fails when the committed files are stale.
// Lives here rather than in deploy/scripts/ so the root tsconfig typechecks and lints it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NATS_AUTH_VALUES_PATH, PERMISSIONS_JSON_PATH, renderNatsAuthValues, renderPermissionsJson } from './permission-files';

const root = join(import.meta.dirname, '..', '..', '..');
writeFileSync(join(root, PERMISSIONS_JSON_PATH), renderPermissionsJson());
writeFileSync(join(root, NATS_AUTH_VALUES_PATH), renderNatsAuthValues());
console.log(`wrote ${PERMISSIONS_JSON_PATH} and ${NATS_AUTH_VALUES_PATH}`);
