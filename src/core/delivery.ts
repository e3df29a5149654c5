// What to do after a failed send (RELIABILITY C1-C5, A7). Pure, so every branch is a table test.
//
//   login refused (EAUTH, 530/534/535)  -> paused: the row goes back unchanged, the sender stops for a long while
//                                          (retrying a bad password fast only risks an account lockout)
//   5xx reply                            -> failed: permanent, never retried
//   4xx reply                            -> retry with backoff (greylisting), until maxAttempts
//   no reply, after the server accepted DATA (354): the message may be complete at the server (the connection
//   dropped after the final dot, before the 250 was read: RFC 1047)  -> uncertain: never resent automatically
//   no reply, before DATA was accepted (refused connection, timeout, reset, TLS) -> retry with backoff
//   an address the mail library refuses to put in an envelope (EENVELOPE without a reply) -> failed

export interface SendFailure {
  /** nodemailer's code: EAUTH, ECONNECTION, ETIMEDOUT, EENVELOPE, EMESSAGE, ESOCKET, ETLS, EDNS; or a file error. */
  code?: string;
  /** The SMTP reply code, when the server answered. */
  responseCode?: number;
  /** The command it answered: 'AUTH PLAIN', 'MAIL FROM', 'RCPT TO', 'DATA', 'CONN'. */
  command?: string;
  /** The server had answered DATA with 354 when the failure happened: message bytes may have reached it. */
  dataAccepted: boolean;
  message: string;
}

export interface DeliveryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  authPauseMs: number;
}

export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  maxAttempts: 10,
  baseDelayMs: 60_000,
  maxDelayMs: 60 * 60_000,
  authPauseMs: 15 * 60_000,
};

export type Delivery =
  | { outcome: 'retry'; delayMs: number; error: string }
  | { outcome: 'failed'; error: string }
  | { outcome: 'uncertain'; error: string }
  | { outcome: 'paused'; pauseMs: number; error: string };

const AUTH_REPLIES = new Set([530, 534, 535, 538]);

/** "421 4.7.0 Try later" -> first line, capped: what staff see as lastError (never the message body). */
function describe(f: SendFailure): string {
  const first = f.message.split(/\r?\n/)[0].slice(0, 300);
  return [f.code, f.command && f.command !== 'CONN' ? `at ${f.command}` : null, first].filter(Boolean).join(' ');
}

/** Delay before attempt `attempts + 1`: base, doubling, capped. Deterministic, so tests can move the clock to it. */
export function retryDelayMs(attempts: number, p: DeliveryPolicy = DEFAULT_DELIVERY_POLICY): number {
  return Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.max(0, attempts - 1));
}

/** `attempts` counts the try that just failed. */
export function decideDelivery(f: SendFailure, attempts: number, p: DeliveryPolicy = DEFAULT_DELIVERY_POLICY): Delivery {
  const error = describe(f);
  const reply = f.responseCode ?? 0;
  if (f.code === 'EAUTH' || f.code === 'ENOAUTH' || AUTH_REPLIES.has(reply))
    return { outcome: 'paused', pauseMs: p.authPauseMs, error };
  if (reply >= 500 && reply < 600) return { outcome: 'failed', error };
  if (reply >= 400 && reply < 500) {
    if (attempts >= p.maxAttempts) return { outcome: 'failed', error: `gave up after ${attempts} attempts: ${error}` };
    return { outcome: 'retry', delayMs: retryDelayMs(attempts, p), error };
  }
  if (f.dataAccepted) return { outcome: 'uncertain', error: `no reply after the message was sent; it may have been delivered: ${error}` };
  if (f.code === 'EENVELOPE' || f.code === 'EMESSAGE') return { outcome: 'failed', error };
  if (attempts >= p.maxAttempts) return { outcome: 'failed', error: `gave up after ${attempts} attempts: ${error}` };
  return { outcome: 'retry', delayMs: retryDelayMs(attempts, p), error };
}
