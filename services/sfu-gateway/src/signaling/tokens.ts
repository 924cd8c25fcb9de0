// Call tokens: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "v1." + claims))>`.
// A caller token lets its holder start calls until it expires; a supervisor token names the one
// session it may listen to. Pure functions (the clock is a parameter) so the rules are testable.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isSessionId } from '@switchboard/contracts';
import { SignalingError } from './errors';

export type TokenRole = 'caller' | 'supervisor';

export interface TokenClaims {
  role: TokenRole;
  /** Expiry, unix seconds. */
  exp: number;
  /** Supervisor tokens: the session they may join. */
  sessionId?: string;
  /** Random, so two tokens minted in the same second differ. */
  nonce: string;
}

const PREFIX = 'v1';

function mac(secret: string, body: string): Buffer {
  return createHmac('sha256', secret).update(`${PREFIX}.${body}`).digest();
}

export function signToken(secret: string, claims: Omit<TokenClaims, 'nonce'> & { nonce?: string }): string {
  if (claims.role === 'supervisor' && !isSessionId(claims.sessionId)) throw new SignalingError('BAD_REQUEST', 'a supervisor token needs a session id');
  const full: TokenClaims = { ...claims, nonce: claims.nonce ?? randomBytes(6).toString('base64url') };
  const body = Buffer.from(JSON.stringify(full), 'utf8').toString('base64url');
  return `${PREFIX}.${body}.${mac(secret, body).toString('base64url')}`;
}

export function mintToken(secret: string, role: TokenRole, ttlS: number, nowMs: number, sessionId?: string): string {
  return signToken(secret, { role, exp: Math.floor(nowMs / 1000) + ttlS, ...(sessionId ? { sessionId } : {}) });
}

/** Checks signature, shape and expiry; throws SignalingError TOKEN_INVALID / TOKEN_EXPIRED. */
export function verifyToken(secret: string, token: unknown, nowMs: number): TokenClaims {
  if (typeof token !== 'string' || token.length > 2048) throw new SignalingError('TOKEN_INVALID', 'missing or oversized token');
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) throw new SignalingError('TOKEN_INVALID', 'malformed token');
  const [, body, sig] = parts as [string, string, string];
  const expected = mac(secret, body);
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new SignalingError('TOKEN_INVALID', 'token signature does not match');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new SignalingError('TOKEN_INVALID', 'token claims are not JSON');
  }
  const c = claims as Partial<TokenClaims>;
  if ((c.role !== 'caller' && c.role !== 'supervisor') || typeof c.exp !== 'number' || typeof c.nonce !== 'string') {
    throw new SignalingError('TOKEN_INVALID', 'token claims are incomplete');
  }
  if (c.role === 'supervisor' && !isSessionId(c.sessionId)) throw new SignalingError('TOKEN_INVALID', 'supervisor token without a valid session id');
  if (c.exp * 1000 <= nowMs) throw new SignalingError('TOKEN_EXPIRED', `token expired at ${new Date(c.exp * 1000).toISOString()}`);
  return c as TokenClaims;
}
