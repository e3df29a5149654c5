// Outgoing mail. nodemailer builds every message once (its stream transport, so the .eml file and the SMTP DATA
// are the same bytes); then either its pooled SMTP transport sends it over SMTP_URL (TLS certificates verified;
// STARTTLS required except on loopback), or, with no SMTP_URL, the bytes are written durably as an .eml file under
// <data>/sent. The envelope is always ours: MAIL FROM the bounce address or the null sender <>, exactly one RCPT.
//
// The one thing nodemailer does not tell us is whether a dropped connection happened before or after the server
// accepted the message data (RFC 1047: after the final dot, the mail may already be delivered). Its transaction
// log does show each server reply, so we watch for the 354 that opens DATA; sends are serialised, so the reply
// belongs to the send in progress. The log never reaches our logger (it holds addresses).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import nodemailer, { type SendMailOptions, type TransportOptions } from 'nodemailer';
import type { Log } from './logger.ts';
import type { SendFailure } from '../core/delivery.ts';
import { errorMessage } from '../errors.ts';

export interface OutgoingMail {
  /** The outbox row id: names the .eml file. */
  id: number;
  kind: string;
  from: { name: string; address: string };
  to: string;
  /** MAIL FROM; null is the null sender <>. */
  envelopeFrom: string | null;
  subject: string;
  text: string;
  html: string | null;
  /** `<...>`, created with the outbox row. */
  messageId: string;
  headers: Record<string, string>;
  date: Date;
  /** Ask for no delivery status notifications (RCPT NOTIFY=NEVER, where the server offers DSN). */
  notifyNever?: boolean;
}

export interface SendResult {
  /** The server's reply to the data (or the file written). */
  response: string;
}

/** A failed send, with nodemailer's fields kept, for the delivery decision. */
export class MailError extends Error implements SendFailure {
  code?: string;
  responseCode?: number;
  command?: string;
  dataAccepted: boolean;
  constructor(f: SendFailure, cause?: unknown) {
    super(f.message, { cause });
    this.name = 'MailError';
    this.code = f.code;
    this.responseCode = f.responseCode;
    this.command = f.command;
    this.dataAccepted = f.dataAccepted;
  }
}

export interface Mailer {
  readonly kind: 'smtp' | 'files';
  /** How many sends it takes at once (the outbox sends in as many lanes). */
  readonly concurrency: number;
  /** Resolves once the server accepted the message (or the file is durable); throws a MailError otherwise. */
  send(m: OutgoingMail): Promise<SendResult>;
  /** For `intake doctor`: connect and log in (SMTP), or check the folder is writable. */
  verify(): Promise<string>;
  close(): Promise<void>;
}

const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

/** Past this many characters a body goes out in base64: quoted-printable spells each byte of Cyrillic as =XX. */
const BASE64_FROM_CHARS = 64 * 1024;

/** The message as it goes over the wire: RFC 5322 bytes with CRLF line ends. */
export async function buildMessage(m: OutgoingMail): Promise<Buffer> {
  const large = m.text.length + (m.html?.length ?? 0) > BASE64_FROM_CHARS;
  const info = await builder.sendMail({
    // A digest of thousands of items: base64 is smaller (the bench digest of 2000 items: 3.2 against 3.9 MB)
    // and is encoded natively, where quoted-printable is a loop over every byte.
    ...(large ? { textEncoding: 'base64' as const } : {}),
    from: { name: m.from.name, address: m.from.address },
    to: m.to,
    subject: m.subject,
    text: m.text,
    html: m.html ?? undefined,
    messageId: m.messageId,
    date: m.date,
    headers: m.headers,
    // the envelope is not part of the bytes; set so the builder never derives one from the headers
    envelope: { from: m.envelopeFrom ?? '', to: [m.to] },
  });
  return info.message as Buffer;
}

function failureOf(err: unknown, dataAccepted: boolean): MailError {
  const e = err as { code?: unknown; responseCode?: unknown; command?: unknown; response?: unknown };
  // A server that refuses STARTTLS where TLS is required (a 500 from one that does not offer it, or a MITM that
  // strips it) has answered about the connection, not about this message: nothing was sent, not even the
  // login. Without the reply code it is a failed connection (retried later, like any other), not a 5xx
  // rejection of the message (failed for good); the next message would be refused the same way.
  if (e.code === 'ETLS' && e.command === 'STARTTLS' && typeof e.response === 'string')
    return new MailError(
      {
        code: 'ETLS',
        command: 'STARTTLS',
        dataAccepted: false,
        message: `the server refused STARTTLS (${e.response.split(/\r?\n/)[0]}) and TLS is required: nothing was sent`,
      },
      err,
    );
  return new MailError(
    {
      code: typeof e.code === 'string' ? e.code : undefined,
      responseCode: typeof e.responseCode === 'number' ? e.responseCode : undefined,
      command: typeof e.command === 'string' ? e.command : undefined,
      dataAccepted,
      message: errorMessage(err),
    },
    err,
  );
}

/** Runs one task at a time, in call order. */
function serial() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => {});
    return run;
  };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export interface SmtpOptions {
  url: string;
  /** The EHLO name: our mail domain, never the machine's host name. */
  heloName: string;
  log: Log;
  /** Seconds without a reply before the connection is given up (SMTP_SOCKET_TIMEOUT_SECONDS). */
  socketTimeoutSeconds?: number;
  /** Tests: trust this CA (a self-signed test server). */
  tlsCa?: string | Buffer;
  /** STARTTLS required whatever the host; unset: required except on loopback. Tests set it, so that a loopback
   *  server can stand in for a remote one. */
  requireTls?: boolean;
}

export function makeSmtpMailer(o: SmtpOptions): Mailer {
  const u = new URL(o.url);
  const secure = u.protocol === 'smtps:';
  const host = u.hostname;
  const timeout = (o.socketTimeoutSeconds ?? 60) * 1000;
  // Connecting (DNS to the end of STARTTLS) and the greeting: 30 s, or the socket timeout if that is shorter.
  // A tarpit slower than these per reply line is given up on; one that answers within them only makes the
  // send slow, and sending has a loop of its own (src/pipeline/daemon.ts), so ingestion never waits for it.
  const setupTimeout = Math.min(30_000, timeout);
  let dataAccepted = false;
  const watch = {
    debug(entry: { tnx?: string }, message: unknown) {
      if (entry?.tnx === 'server' && typeof message === 'string' && /^354[ -]/.test(message)) dataAccepted = true;
    },
    trace() {},
    info() {},
    warn() {},
    error() {},
    fatal() {},
  };
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 1,
    maxMessages: 100,
    host,
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    requireTLS: !secure && (o.requireTls ?? !LOOPBACK.has(host)),
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    name: o.heloName,
    // SNI names a host, never an IP address (RFC 6066); the certificate is checked against the IP all the same
    tls: { rejectUnauthorized: true, ...(net.isIP(host) ? {} : { servername: host }), ...(o.tlsCa ? { ca: o.tlsCa } : {}) },
    connectionTimeout: setupTimeout,
    greetingTimeout: setupTimeout,
    socketTimeout: timeout,
    logger: watch as never,
    transactionLog: true,
  } as TransportOptions);
  const one = serial();

  return {
    kind: 'smtp',
    // One connection, one transaction at a time: whether the server took the DATA is read from its log.
    concurrency: 1,
    send: (m) =>
      one(async () => {
        const raw = await buildMessage(m);
        dataAccepted = false;
        try {
          const info = await transport.sendMail({
            envelope: { from: m.envelopeFrom ?? '', to: [m.to] },
            raw,
            ...(m.notifyNever ? { dsn: { notify: ['NEVER'] } } : {}),
          } as SendMailOptions);
          return { response: String(info.response ?? '') };
        } catch (err) {
          throw failureOf(err, dataAccepted);
        }
      }),
    verify: () =>
      one(async () => {
        try {
          await transport.verify();
          return `SMTP at ${host}:${u.port || (secure ? 465 : 587)}: connected${u.username ? ' and logged in' : ''}`;
        } catch (err) {
          throw failureOf(err, false);
        }
      }),
    async close() {
      transport.close();
    },
  };
}

async function writeDurably(file: string, data: Buffer): Promise<void> {
  const dir = path.dirname(file);
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await fs.promises.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  const dh = await fs.promises.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/**
 * No SMTP server: each message becomes <dir>/<outbox id>-<kind>.eml, with the envelope sender on top as a
 * Return-Path line (as a delivery agent writes it), so the file shows the envelope too. Written to a temporary
 * name, fsynced, renamed: a file there is a complete message.
 */
const FILE_SENDS_AT_ONCE = 4;

export function makeFileMailer(dir: string): Mailer {
  return {
    kind: 'files',
    // Each file is its own: a few written at once overlap their fsyncs (and the outbox rows' commits).
    concurrency: FILE_SENDS_AT_ONCE,
    async send(m) {
      const raw = await buildMessage(m);
      const file = path.join(dir, `${m.id}-${m.kind.replace(/[^a-z_]/g, '')}.eml`);
      try {
        await writeDurably(file, Buffer.concat([Buffer.from(`Return-Path: <${m.envelopeFrom ?? ''}>\r\n`), raw]));
      } catch (err) {
        throw failureOf(err, false);
      }
      return { response: `written to ${file}` };
    },
    async verify() {
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      await fs.promises.access(dir, fs.constants.W_OK);
      return `no SMTP_URL: mail is written as .eml files under ${dir}`;
    },
    async close() {},
  };
}

// --- the recorded state of sending, for `intake doctor` (another process) --------------------------------------

export interface SmtpStatus {
  state: 'ok' | 'paused';
  at: string;
  until?: string;
  error?: string;
}

const statusFile = (dataDir: string) => path.join(dataDir, 'smtp-status.json');

export function writeSmtpStatus(dataDir: string, s: SmtpStatus): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const tmp = `${statusFile(dataDir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
  fs.renameSync(tmp, statusFile(dataDir));
}

export function readSmtpStatus(dataDir: string): SmtpStatus | null {
  try {
    return JSON.parse(fs.readFileSync(statusFile(dataDir), 'utf8')) as SmtpStatus;
  } catch {
    return null;
  }
}
