// One-shot provisioning of every stream and KV bucket (Helm pre-install/pre-upgrade hook,
// initContainer, or `pnpm provision`). Create-or-update: it never deletes data. Exit 0 on success.
import { Bus, provision } from '@switchboard/bus';
import { createLogger } from '@switchboard/telemetry';

const env = process.env;
const log = createLogger({ service: 'provision', level: env['LOG_LEVEL'] ?? 'info' });
const num = (name: string, fallback: number): number => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    log.fatal({ name, value: v }, 'invalid configuration: expected a positive integer');
    process.exit(2);
  }
  return n;
};

try {
  const bus = await Bus.connect({
    servers: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    service: 'provision',
    user: env['NATS_USER'],
    pass: env['NATS_PASSWORD'],
    log,
    partitions: num('PARTITIONS', 64),
    connectBudgetMs: num('CONNECT_BUDGET_MS', 60_000),
  });
  const report = await provision(bus.nc, bus.jsm, { replicas: num('STREAM_REPLICAS', num('NATS_REPLICAS', 1)), leaseTtlMs: num('LEASE_TTL_MS', 1000), budgetMs: num('PROVISION_BUDGET_MS', 60_000), onRetry: (step, attempt, err) => log.warn({ step, attempt, err: err.message }, 'JetStream not ready, retrying') });
  log.info(report, 'provisioned');
  await bus.drain();
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'provisioning failed');
  process.exit(1);
}
