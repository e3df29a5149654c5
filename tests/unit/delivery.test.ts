// The send-failure decision, one named case per branch, with the fields nodemailer really sets.
import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_POLICY, decideDelivery, retryDelayMs, type SendFailure } from '../../src/core/delivery.ts';

const f = (o: Partial<SendFailure>): SendFailure => ({ dataAccepted: false, message: 'failed', ...o });

describe('decideDelivery', () => {
  it.each([
    ['a refused login (EAUTH 535)', f({ code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }), 'paused'],
    ['authentication required at MAIL FROM (530)', f({ code: 'EENVELOPE', responseCode: 530, command: 'MAIL FROM' }), 'paused'],
    ['greylisting at RCPT (450)', f({ code: 'EENVELOPE', responseCode: 450, command: 'RCPT TO' }), 'retry'],
    ['a busy server at the greeting (421)', f({ code: 'EPROTOCOL', responseCode: 421, command: 'CONN' }), 'retry'],
    ['a temporary refusal after the data (451)', f({ code: 'EMESSAGE', responseCode: 451, command: 'DATA', dataAccepted: true }), 'retry'],
    ['an unknown mailbox (550)', f({ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' }), 'failed'],
    ['a size rejection (552)', f({ code: 'EMESSAGE', responseCode: 552, command: 'DATA', dataAccepted: true }), 'failed'],
    ['a refused connection', f({ code: 'ESOCKET', command: 'CONN' }), 'retry'],
    ['a connection closed before DATA', f({ code: 'ECONNECTION', command: 'CONN' }), 'retry'],
    ['a timeout before DATA', f({ code: 'ETIMEDOUT', command: 'CONN' }), 'retry'],
    ['a connection closed after DATA was accepted', f({ code: 'ECONNECTION', command: 'CONN', dataAccepted: true }), 'uncertain'],
    ['a timeout waiting for the reply to the final dot', f({ code: 'ETIMEDOUT', command: 'CONN', dataAccepted: true }), 'uncertain'],
    ['an address the library refuses', f({ code: 'EENVELOPE', command: 'API' }), 'failed'],
    ['a full disk (file transport)', f({ code: 'ENOSPC' }), 'retry'],
  ])('%s -> %s', (_name, failure, outcome) => {
    expect(decideDelivery(failure, 1).outcome).toBe(outcome);
  });

  it('gives up on a temporary failure after maxAttempts', () => {
    const greylist = f({ code: 'EENVELOPE', responseCode: 450, command: 'RCPT TO', message: '450 try later' });
    expect(decideDelivery(greylist, DEFAULT_DELIVERY_POLICY.maxAttempts - 1).outcome).toBe('retry');
    const last = decideDelivery(greylist, DEFAULT_DELIVERY_POLICY.maxAttempts);
    expect(last.outcome).toBe('failed');
    expect(last.error).toMatch(/^gave up after 10 attempts/);
  });

  it('backs off: doubling from the base, capped', () => {
    expect(retryDelayMs(1)).toBe(60_000);
    expect(retryDelayMs(2)).toBe(120_000);
    expect(retryDelayMs(3)).toBe(240_000);
    expect(retryDelayMs(20)).toBe(3600_000);
    const d = decideDelivery(f({ responseCode: 421 }), 2);
    expect(d).toMatchObject({ outcome: 'retry', delayMs: 120_000 });
  });

  it('pauses for the configured time and keeps the reply as the error', () => {
    const d = decideDelivery(f({ code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN', message: 'Invalid login: 535 5.7.8 bad credentials\r\nmore' }), 1);
    expect(d).toEqual({ outcome: 'paused', pauseMs: 15 * 60_000, error: 'EAUTH at AUTH PLAIN Invalid login: 535 5.7.8 bad credentials' });
  });
});
