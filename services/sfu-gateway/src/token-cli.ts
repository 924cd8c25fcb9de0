// Mints a call link: `node --import tsx services/sfu-gateway/src/token-cli.ts caller|supervisor [sessionId]
// [--base http://127.0.0.1:8080] [--ttl 3600]` with SIGNALING_SECRET in the environment.
import { parseArgs } from 'node:util';
import { mintToken } from './signaling/tokens';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { base: { type: 'string', default: 'http://127.0.0.1:8080' }, ttl: { type: 'string', default: '3600' } },
});
const secret = process.env['SIGNALING_SECRET'];
const [role, sessionId] = positionals;
if (!secret || secret.length < 16 || (role !== 'caller' && role !== 'supervisor') || (role === 'supervisor' && !sessionId)) {
  process.stderr.write('usage: SIGNALING_SECRET=… token-cli.ts caller | supervisor <sessionId> [--base URL] [--ttl S]\n');
  process.exit(2);
}
const token = mintToken(secret, role, Number(values.ttl), Date.now(), sessionId);
process.stdout.write(`${String(values.base).replace(/\/+$/, '')}/?token=${encodeURIComponent(token)}\n`);
