// Call tokens are the only thing between the internet and a call: forged, altered, expired and
// malformed tokens must all be refused with a code the page can show.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { newSessionId } from '@switchboard/contracts';
import { SignalingError } from '../src/signaling/errors';
import { parseClientMessage, parseRequestData } from '../src/signaling/protocol';
import { mintToken, signToken, verifyToken } from '../src/signaling/tokens';

const SECRET = 'unit-secret-0123456789';
const NOW = Date.UTC(2026, 0, 1);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SignalingError, `expected SignalingError, got ${String(err)}`);
    return err.code;
  }
  return 'no error';
}

describe('call tokens', () => {
  it('a caller token verifies until it expires', () => {
    const t = mintToken(SECRET, 'caller', 60, NOW);
    assert.equal(verifyToken(SECRET, t, NOW).role, 'caller');
    assert.equal(verifyToken(SECRET, t, NOW + 59_000).role, 'caller');
    assert.equal(code(() => verifyToken(SECRET, t, NOW + 60_000)), 'TOKEN_EXPIRED');
  });

  it('a supervisor token carries its session id and needs one', () => {
    const sid = newSessionId(NOW);
    const t = mintToken(SECRET, 'supervisor', 60, NOW, sid);
    assert.deepEqual([verifyToken(SECRET, t, NOW).role, verifyToken(SECRET, t, NOW).sessionId], ['supervisor', sid]);
    assert.equal(code(() => signToken(SECRET, { role: 'supervisor', exp: NOW / 1000 + 60 })), 'BAD_REQUEST');
  });

  it('forged, altered and malformed tokens are refused', () => {
    const t = mintToken(SECRET, 'caller', 60, NOW);
    assert.equal(code(() => verifyToken('another-secret-0123456789', t, NOW)), 'TOKEN_INVALID');
    const [v, body, sig] = t.split('.') as [string, string, string];
    // Same signature, claims changed to a supervisor of some session.
    const altered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), role: 'supervisor', sessionId: newSessionId(NOW) })).toString('base64url');
    assert.equal(code(() => verifyToken(SECRET, `${v}.${altered}.${sig}`, NOW)), 'TOKEN_INVALID');
    for (const bad of ['', 'x', 'v1.a', `v2.${body}.${sig}`, `${t}x`, 'a'.repeat(5000), 42, null]) {
      assert.equal(code(() => verifyToken(SECRET, bad, NOW)), 'TOKEN_INVALID', `token ${String(bad).slice(0, 20)}`);
    }
    // A valid signature over non-JSON or incomplete claims is still refused.
    const signed = (body: string) => `v1.${body}.${createHmac('sha256', SECRET).update(`v1.${body}`).digest('base64url')}`;
    assert.equal(code(() => verifyToken(SECRET, signed(Buffer.from('not json').toString('base64url')), NOW)), 'TOKEN_INVALID');
    assert.equal(code(() => verifyToken(SECRET, signed(Buffer.from(JSON.stringify({ exp: NOW / 1000 + 60, nonce: 'n' })).toString('base64url')), NOW)), 'TOKEN_INVALID');
    assert.equal(code(() => verifyToken(SECRET, signed(Buffer.from(JSON.stringify({ role: 'supervisor', exp: NOW / 1000 + 60, nonce: 'n', sessionId: 'ses_x' })).toString('base64url')), NOW)), 'TOKEN_INVALID');
    assert.equal(verifyToken(SECRET, signed(Buffer.from(JSON.stringify({ role: 'caller', exp: NOW / 1000 + 60, nonce: 'n' })).toString('base64url')), NOW).role, 'caller');
  });

  it('two tokens minted in the same millisecond differ (nonce)', () => {
    assert.notEqual(mintToken(SECRET, 'caller', 60, NOW), mintToken(SECRET, 'caller', 60, NOW));
  });
});

describe('signaling messages', () => {
  it('parses the four client messages', () => {
    assert.equal(parseClientMessage('{"type":"join","token":"t"}').type, 'join');
    assert.equal(parseClientMessage('{"type":"request","id":1,"method":"consume","data":{}}').type, 'request');
    assert.equal(parseClientMessage('{"type":"hangup"}').type, 'hangup');
    assert.equal(parseClientMessage('{"type":"ping","t":1}').type, 'ping');
  });

  it('rejects bad JSON, unknown types and invalid fields with readable reasons', () => {
    assert.equal(code(() => parseClientMessage('{nope')), 'BAD_JSON');
    assert.equal(code(() => parseClientMessage('[1]')), 'BAD_MESSAGE');
    assert.equal(code(() => parseClientMessage('{"type":"teleport"}')), 'UNKNOWN_TYPE');
    assert.equal(code(() => parseClientMessage('{"type":"request","id":-1,"method":"consume"}')), 'BAD_MESSAGE');
    assert.equal(code(() => parseClientMessage('{"type":"request","id":1,"method":"closeEverything"}')), 'BAD_MESSAGE');
    assert.equal(code(() => parseRequestData('createTransport', { direction: 'sideways' })), 'BAD_REQUEST');
    assert.equal(code(() => parseRequestData('produce', { transportId: 't', kind: 'video', rtpParameters: {} })), 'BAD_REQUEST');
    assert.match((() => {
      try {
        parseRequestData('connectTransport', { transportId: '' });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })(), /transportId/);
  });
});
