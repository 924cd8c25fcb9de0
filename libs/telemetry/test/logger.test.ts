import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createLogger, sessionLogger } from '@switchboard/telemetry';
import { capture } from './capture';

const TELUGU = 'నమస్కారం, నా బిల్లు ఎంత? 🙏';
const SECRET_TRANSCRIPT = 'my card number is four two four two';

const savedEnv = { ...process.env };
afterEach(() => {
  for (const k of ['LOG_TRANSCRIPTS', 'LOG_LEVEL', 'REPLICA_ID']) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

void describe('createLogger', () => {
  void it('writes JSON lines carrying service and replica', () => {
    const out = capture();
    const log = createLogger({ service: 'orchestrator', replicaId: 'orch-0', destination: out.stream });
    log.info({ turnId: 't1' }, 'turn started');
    const [rec] = out.records();
    assert.equal(rec?.['service'], 'orchestrator');
    assert.equal(rec?.['replica'], 'orch-0');
    assert.equal(rec?.['level'], 'info');
    assert.equal(rec?.['msg'], 'turn started');
    assert.equal(rec?.['turnId'], 't1');
  });

  void it('redacts transcripts and personal data by default, at every depth up to two levels', () => {
    delete process.env['LOG_TRANSCRIPTS'];
    const out = capture();
    const log = createLogger({ service: 'stt', destination: out.stream });
    log.info(
      {
        transcript: SECRET_TRANSCRIPT,
        text: 'top-level text',
        userText: 'user said x',
        agentText: 'agent said y',
        callerId: '+919876543210',
        phone: '+15551234567',
        email: 'a@b.example',
        password: 'hunter2',
        token: 'tok-abc',
        secret: 's3cr3t',
        authorization: 'Bearer xyz',
        turn: { transcript: SECRET_TRANSCRIPT, text: 'nested text', confidence: 0.9 },
        event: { final: { transcript: SECRET_TRANSCRIPT, userText: 'deep user' } },
        sessionId: 's-1',
      },
      'final transcript',
    );
    const text = out.raw().toString('utf8');
    for (const leaked of [
      SECRET_TRANSCRIPT,
      'top-level text',
      'user said x',
      'agent said y',
      '+919876543210',
      '+15551234567',
      'a@b.example',
      'hunter2',
      'tok-abc',
      's3cr3t',
      'Bearer xyz',
      'nested text',
      'deep user',
    ]) {
      assert.ok(!text.includes(leaked), `leaked ${leaked}: ${text}`);
    }
    const [rec] = out.records();
    assert.equal(rec?.['transcript'], '[redacted]');
    assert.deepEqual(rec?.['turn'], { transcript: '[redacted]', text: '[redacted]', confidence: 0.9 });
    assert.deepEqual(rec?.['event'], { final: { transcript: '[redacted]', userText: '[redacted]' } });
    // Non-sensitive context survives.
    assert.equal(rec?.['sessionId'], 's-1');
  });

  void it('child session loggers keep the redaction and add sessionId', () => {
    const out = capture();
    const log = sessionLogger(createLogger({ service: 'orch', destination: out.stream }), 'sess-42', { tenant: 'acme' });
    log.info({ transcript: SECRET_TRANSCRIPT }, 'heard');
    const [rec] = out.records();
    assert.equal(rec?.['sessionId'], 'sess-42');
    assert.equal(rec?.['tenant'], 'acme');
    assert.equal(rec?.['transcript'], '[redacted]');
    assert.ok(!out.raw().toString('utf8').includes(SECRET_TRANSCRIPT));
  });

  void it('logs transcripts verbatim when enabled, Telugu byte-identical', () => {
    const out = capture();
    const log = createLogger({ service: 'stt', destination: out.stream, logTranscripts: true });
    log.info({ transcript: TELUGU, turn: { text: TELUGU } }, 'final');
    assert.ok(out.raw().includes(Buffer.from(TELUGU, 'utf8')), 'raw UTF-8 bytes present');
    const [rec] = out.records();
    assert.equal(rec?.['transcript'], TELUGU);
    assert.deepEqual(rec?.['turn'], { text: TELUGU });
  });

  void it('LOG_TRANSCRIPTS=1 enables transcripts; any other value does not', () => {
    process.env['LOG_TRANSCRIPTS'] = '1';
    const on = capture();
    createLogger({ service: 's', destination: on.stream }).info({ transcript: TELUGU }, 'x');
    assert.equal(on.records()[0]?.['transcript'], TELUGU);

    process.env['LOG_TRANSCRIPTS'] = 'true';
    const off = capture();
    createLogger({ service: 's', destination: off.stream }).info({ transcript: TELUGU }, 'x');
    assert.equal(off.records()[0]?.['transcript'], '[redacted]');
  });

  void it('takes its level from LOG_LEVEL when not given', () => {
    process.env['LOG_LEVEL'] = 'warn';
    const out = capture();
    const log = createLogger({ service: 's', destination: out.stream });
    log.info('hidden');
    log.warn('shown');
    assert.deepEqual(
      out.records().map((r) => r['msg']),
      ['shown'],
    );
    const explicit = capture();
    const dbg = createLogger({ service: 's', level: 'debug', destination: explicit.stream });
    dbg.debug('visible');
    assert.equal(explicit.records().length, 1);
  });
});
