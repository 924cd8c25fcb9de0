// One session id end to end. External ids (a client's own id, a telephony call id) are
// aliases resolved once at the edge, through the `aliases` KV bucket. The rules:
//  1. a canonical id (`ses_<ULID>`) is taken as is, but only if the session is known;
//  2. an alias is `<namespace>:<value>` (namespaces: client, pstn, sip, crm); it resolves to
//     the one session it was bound to; binding is create-only (an alias never moves to
//     another session while it lives) and expires with the bucket's TTL;
//  3. anything else, or an alias nobody bound, is rejected — never routed to a random call.
import type { KV } from '@nats-io/kv';
import { isSessionId } from '@switchboard/contracts';

export const ALIAS_NAMESPACES = ['client', 'pstn', 'sip', 'crm'] as const;
export type AliasNamespace = (typeof ALIAS_NAMESPACES)[number];

export class AliasError extends Error {
  readonly retryable = false;
  constructor(
    readonly code: 'INVALID_ALIAS' | 'UNKNOWN_ALIAS' | 'ALIAS_TAKEN' | 'UNKNOWN_SESSION',
    message: string,
  ) {
    super(message);
    this.name = 'AliasError';
  }
}

const ALIAS_RE = /^(client|pstn|sip|crm):([A-Za-z0-9+_\-@.]{1,96})$/;

/** KV keys allow [-/_=.a-zA-Z0-9]: encode the alias value so any allowed character survives. */
function aliasKey(alias: string): string {
  const m = ALIAS_RE.exec(alias);
  if (!m) throw new AliasError('INVALID_ALIAS', `not an alias: ${JSON.stringify(alias.slice(0, 64))} (expected <${ALIAS_NAMESPACES.join('|')}>:<id>)`);
  return `${m[1]}.${Buffer.from(m[2]!, 'utf8').toString('base64url')}`;
}

export class AliasRegistry {
  constructor(
    private readonly aliases: KV,
    /** Whether a canonical session id is live (e.g. the orchestrator's sessions bucket has it). */
    private readonly sessionExists: (sessionId: string) => Promise<boolean>,
  ) {}

  /** Bind `alias` to `sessionId`; refused if the alias already points to another session. */
  async bind(alias: string, sessionId: string): Promise<void> {
    if (!isSessionId(sessionId)) throw new AliasError('UNKNOWN_SESSION', `not a session id: ${String(sessionId).slice(0, 64)}`);
    const key = aliasKey(alias);
    try {
      await this.aliases.create(key, new TextEncoder().encode(sessionId));
    } catch {
      const current = await this.aliases.get(key);
      const bound = current && current.operation === 'PUT' ? new TextDecoder().decode(current.value) : undefined;
      if (bound !== sessionId) throw new AliasError('ALIAS_TAKEN', `alias ${alias} is bound to another session`);
    }
  }

  /** Resolve a canonical id or an alias to the session id; throws AliasError otherwise. */
  async resolve(idOrAlias: string): Promise<string> {
    const id: string = idOrAlias;
    if (isSessionId(id)) {
      if (await this.sessionExists(id)) return id;
      throw new AliasError('UNKNOWN_SESSION', `unknown session ${String(idOrAlias)}`);
    }
    const entry = await this.aliases.get(aliasKey(id));
    if (!entry || entry.operation !== 'PUT') throw new AliasError('UNKNOWN_ALIAS', `no session for alias ${id.slice(0, 100)}`);
    return new TextDecoder().decode(entry.value);
  }

  async unbind(alias: string): Promise<void> {
    await this.aliases.delete(aliasKey(alias));
  }
}
