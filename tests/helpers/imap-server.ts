// An in-process IMAP server for tests: hoodiecrow-imap (a real IMAP4rev1 protocol peer, so imapflow is
// exercised over a socket, not mocked) plus a control surface for the things another client or the
// mail system does to a mailbox: deliver, expunge, recreate, cut the line.
//
// Hoodiecrow is kept (rather than a hand-written server) because its parser, literals, FETCH, SEARCH,
// EXAMINE, MOVE and UIDPLUS all work with imapflow as they are. What it gets wrong is patched below
// through its own command-override API, never by editing node_modules:
//  - IDLE plugin: its 30-minute timer is never cleared when the socket closes (keeps the process
//    alive), and it never switches direct notifications off again after DONE, so after the first IDLE
//    an EXPUNGE from another client reached a session with no command in progress.
//  - Notifications queued for a session went out only with the next tagged reply, after the FETCH
//    lines of the same command: a UID FETCH answered in the new numbering before the client heard of
//    the EXPUNGE. UID FETCH/SEARCH now flush them first (RFC 3501 7.4.1 allows EXPUNGE during UID
//    commands).
//  - BODY[] (the whole message, which is all imapflow's download() asks for) went through hoodiecrow's
//    MIME parser first; on 5 MB of 8-bit binary that parser takes over 10 s. It is answered from the
//    raw bytes now, with the RFC 3501 `BODY[]<origin>` echo for partial fetches.
// Hoodiecrow stores messages as "binary" (latin1) strings and writes them back with the same encoding,
// so every byte value survives as long as we convert Buffers with latin1 too (never utf8).
import { createRequire } from 'node:module';
import type { AddressInfo, Server, Socket } from 'node:net';

export interface TestImapServer {
  /** imap://user:pass@127.0.0.1:<port>/INBOX (plain text, no TLS). */
  url: string;
  host: string;
  port: number;
  user: string;
  pass: string;
  /** Delivers a message as the MTA would; returns its UID. Sessions with the mailbox selected get EXISTS. */
  append(mailbox: string, raw: Buffer | string): Promise<number>;
  /** Removes one message as another client would (STORE \Deleted + EXPUNGE); sessions get EXPUNGE. */
  expunge(mailbox: string, uid: number): Promise<void>;
  /**
   * Recreates the mailbox: UIDVALIDITY goes up, the same messages are renumbered from UID 1. Sessions
   * that have it selected get BYE and are disconnected, since UIDs must not change within a session
   * (RFC 3501 2.3.1.1); Dovecot does the same when a selected mailbox is deleted. Returns the new value.
   */
  resetUidValidity(mailbox: string): Promise<number>;
  /**
   * Destroys every client socket without a BYE. By default a FIN (server process gone): the client
   * sees `close`, plus `error` ECONNRESET only if the kernel had unread client bytes. `reset: true`
   * always sends RST, so `error` (ECONNRESET) then `close` is deterministic.
   */
  dropConnections(opts?: { reset?: boolean }): void;
  uidValidity(mailbox: string): number;
  /** UIDs currently in the mailbox, ascending. */
  uids(mailbox: string): number[];
  /** Number of client sessions currently connected. */
  connectionCount(): number;
  /** Client sessions opened since the start (with TLS: handshakes completed). */
  sessionsOpened(): number;
  /** While on, every (UID) MOVE is answered `NO [OVERQUOTA]` and moves nothing, as a full target mailbox would. */
  refuseMoves(on: boolean): void;
  /** While on, every LOGIN is answered `NO [THROTTLED]`, as a rate-limiting server does. */
  throttleLogins(on: boolean): void;
  /** LOGIN commands received since the start, refused ones too. */
  loginCount(): number;
  close(): Promise<void>;
}

export interface TestImapServerOptions {
  /** Initial INBOX content, UIDs 1..n in order. */
  messages?: Array<Buffer | string>;
  /** Further top-level mailboxes to create (e.g. a move-to folder). */
  mailboxes?: string[];
  user?: string;
  pass?: string;
  /** Initial UIDVALIDITY of every mailbox. */
  uidValidity?: number;
  /** Hoodiecrow protocol trace on stdout. */
  debug?: boolean;
  /** Implicit TLS (IMAPS) with this key and certificate chain; the url is then imaps://. */
  tls?: { key: Buffer | string; cert: Buffer | string };
  /** A server without MOVE and UIDPLUS (RFC 3501 only): mail can then be moved only by COPY and EXPUNGE. */
  noMove?: boolean;
}

// The slice of hoodiecrow's untyped internals this helper relies on.
interface HcMessage {
  uid: number;
  raw: string;
  flags: string[];
}
interface HcMailbox {
  path: string;
  uidvalidity: number;
  uidnext: number;
  messages: HcMessage[];
}
interface HcResponse {
  tag: string;
  command?: string;
  attributes?: unknown[];
  [k: string]: unknown;
}
interface HcParsed {
  tag: string;
  command: string;
  attributes?: unknown[];
}
interface HcConnection {
  socket: Socket | null;
  state: string;
  selectedMailbox?: HcMailbox;
  directNotifications: boolean;
  inputHandler: false | ((line: string) => void);
  send(response: HcResponse, description: string, parsed?: HcParsed | null, data?: string): void;
  processNotifications(data?: HcParsed): void;
}
type HcHandler = (conn: HcConnection, parsed: HcParsed, data: string, done: () => void) => void;
interface HcFetchQuery {
  section?: unknown[];
  partial?: number[];
}
type HcFetchHandler = (conn: HcConnection, message: HcMessage, query: HcFetchQuery) => unknown;
interface HcServer {
  server: Server;
  fetchHandlers: Record<string, HcFetchHandler>;
  connectionHandlers: Array<(conn: HcConnection) => void>;
  getMailbox(path: string): HcMailbox | undefined;
  createMailbox(path: string): void;
  appendMessage(mailbox: HcMailbox, flags: string[], internaldate: string | undefined, raw: string): { message: HcMessage };
  notify(command: HcResponse, mailbox: HcMailbox, ignoreConnection?: HcConnection): void;
  registerCapability(name: string): void;
  getCommandHandler(name: string): HcHandler | false;
  setCommandHandler(name: string, handler: HcHandler): void;
  close(cb: (err?: Error) => void): void;
}

const require = createRequire(import.meta.url);
const hoodiecrow = require('hoodiecrow-imap') as (options: object) => HcServer;
const builtinFetch = require('hoodiecrow-imap/lib/commands/handlers/fetch.js') as Record<string, HcFetchHandler>;

const toBinary = (raw: Buffer | string) => (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw).toString('latin1');
const text = (value: string) => [{ type: 'TEXT', value }];

/** Replaces hoodiecrow's IDLE plugin; see the header for what is wrong with it. */
function idlePlugin(server: HcServer) {
  server.registerCapability('IDLE');
  server.setCommandHandler('IDLE', (conn, parsed, data, done) => {
    if (conn.state !== 'Authenticated' && conn.state !== 'Selected') {
      conn.send({ tag: parsed.tag, command: 'NO', attributes: text('Login first') }, 'IDLE FAILED', parsed, data);
      return done();
    }
    conn.directNotifications = true;
    conn.inputHandler = (line) => {
      conn.inputHandler = false;
      conn.directNotifications = false;
      const ok = line.trim().toUpperCase() === 'DONE';
      conn.send(
        { tag: parsed.tag, command: ok ? 'OK' : 'BAD', attributes: text(ok ? 'IDLE terminated' : 'Expected DONE') },
        'IDLE',
        parsed,
        data,
      );
    };
    conn.socket?.write('+ idling\r\n');
    conn.processNotifications();
    done();
  });
}

function flushNotificationsBeforeUidCommands(server: HcServer) {
  for (const name of ['UID FETCH', 'UID SEARCH']) {
    const original = server.getCommandHandler(name);
    if (!original) throw new Error(`hoodiecrow has no ${name} handler`);
    server.setCommandHandler(name, (conn, parsed, data, done) => {
      conn.processNotifications();
      original(conn, parsed, data, done);
    });
  }
}

function wholeMessageFromRaw(server: HcServer) {
  for (const key of ['BODY', 'BODY.PEEK']) {
    const builtin = builtinFetch[key];
    server.fetchHandlers[key] = (conn, message, query) => {
      if (!query.section || query.section.length) return builtin(conn, message, query);
      let value = message.raw;
      if (query.partial) {
        const [start = 0, length] = query.partial;
        value = value.slice(start, length === undefined ? undefined : start + length);
        query.partial = [start];
      }
      return { type: 'LITERAL', value };
    };
  }
}

export async function startTestImapServer(opts: TestImapServerOptions = {}): Promise<TestImapServer> {
  const user = opts.user ?? 'intake';
  const pass = opts.pass ?? 'intake-secret';
  const initialValidity = opts.uidValidity ?? 1000;

  const hc = hoodiecrow({
    debug: !!opts.debug,
    ...(opts.tls ? { secureConnection: true, credentials: { key: opts.tls.key, cert: opts.tls.cert } } : {}),
    users: { [user]: { password: pass } },
    // ID and NAMESPACE are asked for by imapflow on connect; UIDPLUS and MOVE make messageMove() a single
    // UID MOVE. No CONDSTORE: hoodiecrow's is partial and imapflow would ENABLE it.
    plugins: ['ID', 'ENABLE', 'NAMESPACE', 'UNSELECT', ...(opts.noMove ? [] : ['UIDPLUS', 'MOVE']), idlePlugin],
    storage: {
      INBOX: { uidvalidity: initialValidity, messages: (opts.messages ?? []).map((m) => ({ raw: toBinary(m) })) },
      '': { separator: '/' },
    },
  });
  flushNotificationsBeforeUidCommands(hc);
  wholeMessageFromRaw(hc);
  let refusingMoves = false;
  let throttling = false;
  const login = hc.getCommandHandler('LOGIN');
  if (!login) throw new Error('hoodiecrow has no LOGIN handler');
  let logins = 0;
  hc.setCommandHandler('LOGIN', (conn, parsed, data, done) => {
    logins++;
    if (!throttling) return login(conn, parsed, data, done);
    conn.send({ tag: parsed.tag, command: 'NO', attributes: [{ type: 'TEXT', value: '[THROTTLED] Too many logins, slow down' }] }, 'LOGIN THROTTLED', parsed, data);
    done();
  });
  if (!opts.noMove) {
    for (const name of ['MOVE', 'UID MOVE']) {
      const original = hc.getCommandHandler(name);
      if (!original) throw new Error(`hoodiecrow has no ${name} handler`);
      hc.setCommandHandler(name, (conn, parsed, data, done) => {
        if (!refusingMoves) return original(conn, parsed, data, done);
        conn.send({ tag: parsed.tag, command: 'NO', attributes: [{ type: 'TEXT', value: '[OVERQUOTA] Quota exceeded' }] }, 'MOVE REFUSED', parsed, data);
        done();
      });
    }
  }
  for (const path of opts.mailboxes ?? []) {
    hc.createMailbox(path);
    mailbox(path).uidvalidity = initialValidity;
  }

  const connections = new Set<HcConnection>();
  let opened = 0;
  hc.connectionHandlers.push((conn) => {
    opened++;
    // Hoodiecrow writes each response line separately: with Nagle on, every tagged reply waited for the
    // client's delayed ACK, ~40 ms per command and half a second per test for the connect sequence.
    conn.socket?.setNoDelay(true);
    connections.add(conn);
    conn.socket?.once('close', () => connections.delete(conn));
  });

  await new Promise<void>((resolve, reject) => {
    hc.server.once('error', reject);
    hc.server.listen(0, '127.0.0.1', () => {
      hc.server.off('error', reject);
      resolve();
    });
  });
  const port = (hc.server.address() as AddressInfo).port;

  function mailbox(path: string): HcMailbox {
    const mb = hc.getMailbox(path);
    if (!mb) throw new Error(`test IMAP server: no mailbox ${path}`);
    return mb;
  }

  return {
    url: `${opts.tls ? 'imaps' : 'imap'}://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${port}/INBOX`,
    host: '127.0.0.1',
    port,
    user,
    pass,

    async append(path, raw) {
      return hc.appendMessage(mailbox(path), [], undefined, toBinary(raw)).message.uid;
    },

    async expunge(path, uid) {
      const mb = mailbox(path);
      const index = mb.messages.findIndex((m) => m.uid === uid);
      if (index < 0) throw new Error(`test IMAP server: no UID ${uid} in ${path}`);
      // Same notifications as hoodiecrow's own EXPUNGE; the EXISTS carries the pre-expunge list, which
      // its FETCH uses to answer in the numbering a session still has until it has been told.
      const before = [...mb.messages];
      mb.messages.splice(index, 1);
      hc.notify({ tag: '*', attributes: [index + 1, { type: 'ATOM', value: 'EXPUNGE' }] }, mb);
      hc.notify({ tag: '*', attributes: [mb.messages.length, { type: 'ATOM', value: 'EXISTS' }], mailboxCopy: before }, mb);
    },

    async resetUidValidity(path) {
      const mb = mailbox(path);
      mb.uidvalidity += 1;
      mb.messages.forEach((m, i) => (m.uid = i + 1));
      mb.uidnext = mb.messages.length + 1;
      for (const conn of connections) {
        if (conn.selectedMailbox !== mb || !conn.socket) continue;
        conn.send({ tag: '*', command: 'BYE', attributes: text('Selected mailbox was recreated') }, 'BYE');
        conn.socket.end();
      }
      return mb.uidvalidity;
    },

    dropConnections({ reset = false } = {}) {
      for (const conn of connections) {
        if (reset) conn.socket?.resetAndDestroy();
        else conn.socket?.destroy();
      }
    },

    uidValidity: (path) => mailbox(path).uidvalidity,
    uids: (path) => mailbox(path).messages.map((m) => m.uid),
    connectionCount: () => connections.size,
    loginCount: () => logins,
    sessionsOpened: () => opened,
    refuseMoves: (on) => void (refusingMoves = on),
    throttleLogins: (on) => void (throttling = on),

    async close() {
      for (const conn of connections) conn.socket?.destroy();
      await new Promise<void>((resolve, reject) => hc.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
