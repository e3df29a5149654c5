// An in-process SMTP server (nodemailer's smtp-server) on loopback that records every transaction and can be
// told how to answer: refuse a login, greylist, reject, or drop the connection right after the final dot; with
// a size limit, refuse a larger message at the end of DATA (552); as a tarpit, hold chosen replies; with a
// key and certificate, offer STARTTLS (without them it offers none).
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface Received {
  mailFrom: string;
  rcptTo: string[];
  /** RCPT DSN parameters as the server parsed them (NOTIFY=NEVER shows here). */
  rcptDsn: Array<unknown>;
  data: string;
  user?: string;
  /** The name the client gave in EHLO/HELO. */
  helo: string;
  /** The message came over TLS (after STARTTLS). */
  secure: boolean;
}

/** The replies a tarpit can hold (those smtp-server leaves to us): the greeting, and the answers to MAIL FROM,
 *  RCPT TO and the final dot. */
export type Reply = 'greeting' | 'mail' | 'rcpt' | 'dot';

export type Behaviour =
  | 'accept'
  /** 451 at RCPT TO (greylisting). */
  | 'greylist'
  /** 550 at RCPT TO. */
  | 'reject'
  /** Read the whole message, then destroy the socket without answering the final dot. */
  | 'drop-after-data';

export interface SmtpSink {
  url: string;
  port: number;
  received: Received[];
  /** Transactions that reached DATA, whatever happened then. */
  dataSeen: number;
  /** MAIL FROM commands the server read, answered or not. */
  mailFromSeen: number;
  /** AUTH attempts (credentials the client sent), right or wrong. */
  authSeen: number;
  /** Hold these replies, each for `ms`, or without `ms` until release(); null answers at once. */
  tarpit: { replies: Reply[]; ms?: number } | null;
  /** Replies held right now, on connections still open. */
  held: number;
  /** Sends every held reply now. */
  release(): void;
  /** Next answers, consumed one per transaction; `fallback` after the list is empty. */
  script: Behaviour[];
  fallback: Behaviour;
  /** With auth: the password the server accepts. */
  password: string;
  close(): Promise<void>;
}

export async function startSmtpSink(
  o: {
    auth?: boolean;
    /** Offer STARTTLS with this key and certificate. */
    tls?: { key: Buffer; cert: Buffer };
    /** Advertise SIZE with this limit, and answer a larger message with 552 at the end of DATA. */
    maxSize?: number;
  } = {},
): Promise<SmtpSink> {
  const current = new Map<string, Behaviour>();
  /** Held replies: each one's release, the session it belongs to, and its timer. */
  const holding = new Map<() => void, { session: string; timer?: NodeJS.Timeout }>();
  const sink: SmtpSink = {
    url: '',
    port: 0,
    received: [],
    dataSeen: 0,
    mailFromSeen: 0,
    authSeen: 0,
    tarpit: null,
    held: 0,
    release: () => {
      for (const go of [...holding.keys()]) go();
    },
    script: [],
    fallback: 'accept',
    password: 'right',
    close: async () => {},
  };
  const stall = (reply: Reply, session: SMTPServerSession, answer: () => void) => {
    const t = sink.tarpit;
    if (!t?.replies.includes(reply)) return answer();
    const go = () => {
      const h = holding.get(go);
      if (!h) return;
      holding.delete(go);
      clearTimeout(h.timer);
      sink.held--;
      answer();
    };
    holding.set(go, { session: session.id, timer: t.ms === undefined ? undefined : setTimeout(go, t.ms) });
    sink.held++;
  };
  const behaviourOf = (s: SMTPServerSession) => {
    let b = current.get(s.id);
    if (!b) {
      b = sink.script.shift() ?? sink.fallback;
      current.set(s.id, b);
    }
    return b;
  };
  const server: SMTPServer = new SMTPServer({
    // Loopback, and no TLS unless asked for: the mailer requires STARTTLS only on non-loopback hosts (or when
    // told to, as the TLS tests do).
    disabledCommands: [...(o.tls ? [] : ['STARTTLS']), ...(o.auth ? [] : ['AUTH'])],
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
    ...(o.maxSize ? { size: o.maxSize } : {}),
    allowInsecureAuth: true,
    // advertise DSN, so NOTIFY=NEVER on the acknowledgement's RCPT can be seen
    hideDSN: false,
    authOptional: !o.auth,
    logger: false,
    onConnect(session, cb) {
      stall('greeting', session, () => cb());
    },
    onClose(session) {
      // a held reply of a connection the client gave up on is never sent
      for (const [go, h] of holding)
        if (h.session === session.id) {
          holding.delete(go);
          clearTimeout(h.timer);
          sink.held--;
        }
    },
    onAuth(auth, _session, cb) {
      sink.authSeen++;
      if (auth.username === 'intake' && auth.password === sink.password) return cb(null, { user: auth.username });
      const err = Object.assign(new Error('Invalid username or password'), { responseCode: 535 });
      cb(err);
    },
    onMailFrom(_a, session, cb) {
      sink.mailFromSeen++;
      // a new transaction on a pooled connection gets the next scripted answer
      current.delete(session.id);
      stall('mail', session, () => cb());
    },
    onRcptTo(_a, session, cb) {
      const b = behaviourOf(session);
      if (b === 'greylist') return cb(Object.assign(new Error('Greylisted, try again later'), { responseCode: 451 }));
      if (b === 'reject') return cb(Object.assign(new Error('No such user here'), { responseCode: 550 }));
      stall('rcpt', session, () => cb());
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      sink.dataSeen++;
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const b = behaviourOf(session);
        if (b === 'drop-after-data') {
          for (const c of (server as unknown as { connections: Set<{ session: SMTPServerSession; _socket: { destroy(): void } }> }).connections)
            if (c.session === session || c.session?.id === session.id) c._socket.destroy();
          return;
        }
        // smtp-server counts the bytes against `size` and flags the stream; refusing is ours to do
        if ((stream as { sizeExceeded?: boolean }).sizeExceeded)
          return cb(Object.assign(new Error(`Message size exceeds fixed maximum message size (${o.maxSize} bytes)`), { responseCode: 552 }));
        stall('dot', session, () => {
          sink.received.push({
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '(none)',
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            rcptDsn: session.envelope.rcptTo.map((r) => (r as { dsn?: unknown }).dsn ?? null),
            data: Buffer.concat(chunks).toString('utf8'),
            user: session.user as string | undefined,
            helo: session.hostNameAppearsAs,
            secure: session.secure,
          });
          cb(null, 'Queued as test');
        });
      });
    },
  });
  // A client killed mid-session (the crash tests) resets its socket: smtp-server reports that as an 'error'
  // event, which must not become an uncaught exception of the test process.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  sink.port = port;
  sink.url = o.auth ? `smtp://intake:right@127.0.0.1:${port}` : `smtp://127.0.0.1:${port}`;
  sink.close = () => {
    // a held reply would keep its connection, and so the server, open
    sink.tarpit = null;
    sink.release();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return sink;
}

/** The header block of a received message, unfolded, as name -> values. */
export function headersOf(data: string): Map<string, string[]> {
  const head = data.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
  const map = new Map<string, string[]>();
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    map.set(k, [...(map.get(k) ?? []), line.slice(i + 1).trim()]);
  }
  return map;
}
