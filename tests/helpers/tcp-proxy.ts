// A loopback TCP proxy for fault tests: put it between the daemon and a real server (IMAP, PostgreSQL) and
// make the network misbehave the ways it does in production:
//  - forward:     bytes pass both ways, untouched;
//  - cutAfter(n): a connection is destroyed once n bytes have come from the server (the middle of a literal);
//  - loseReplyTo(text): a client write holding `text` (a COMMIT) reaches the server, and the connection is
//                 destroyed before the answer gets back: done, and the client never hears whether;
//  - stall:       open connections stop forwarding in both directions, sockets stay open (no FIN, no RST):
//                 what a dead NAT entry or a pulled cable looks like to the client;
//  - mode 'stall' for new connections: accepted, nothing forwarded (a server that never greets);
//  - mode 'reset': accepted, then reset at once (a server that dies on every connect), counted;
//  - refuse():    the listener closes, connects get ECONNREFUSED (server down); accept() listens again on
//                 the same port; restart() drops everything and listens again.
// Only 127.0.0.1 is ever bound.
import net from 'node:net';

export type ProxyMode = 'forward' | 'stall' | 'reset';

export interface TcpProxy {
  host: '127.0.0.1';
  port: number;
  /** The URL with its host and port replaced by the proxy's. */
  url(target: string): string;
  /** What new connections get (forward by default). */
  setMode(mode: ProxyMode): void;
  /** Destroys a connection after `bytes` from the server; `once` (default) disarms after the first cut. */
  cutAfter(bytes: number, opts?: { once?: boolean }): void;
  /**
   * The next `count` client writes holding `text` (a COMMIT) reach the server, and their connection is then
   * destroyed before any reply gets back: the server did it, the client never hears whether.
   */
  loseReplyTo(text: string, count?: number): void;
  /** Stops forwarding on every open connection, leaving the sockets open. */
  stallOpen(): void;
  /** Destroys every open connection (RST with `reset`, else FIN). */
  dropAll(opts?: { reset?: boolean }): void;
  /** Stops listening: new connects are refused by the kernel. Open connections are dropped. */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  accept(): Promise<void>;
  restart(): Promise<void>;
  readonly stats: { accepted: number; open: number; cuts: number; resets: number; bytesFromServer: number };
  /** What clients sent, as text (the commands of a line protocol), kept up to 1 MiB. */
  fromClients(): string;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket | null;
  stalled: boolean;
  fromServer: number;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'forward';
  let cut: { bytes: number; once: boolean } | null = null;
  let lose: { text: string; count: number } | null = null;
  const stats = { accepted: 0, open: 0, cuts: 0, resets: 0, bytesFromServer: 0 };
  const sent: Buffer[] = [];
  let sentBytes = 0;
  let port = 0;
  let listener: net.Server | null = null;

  function destroy(p: Pair, reset = false) {
    for (const s of [p.client, p.server]) {
      if (!s || s.destroyed) continue;
      if (reset) s.resetAndDestroy();
      else s.destroy();
    }
  }

  function onConnection(client: net.Socket) {
    stats.accepted++;
    client.on('error', () => {});
    if (mode === 'reset') {
      stats.resets++;
      client.resetAndDestroy();
      return;
    }
    const p: Pair = { client, server: null, stalled: mode === 'stall', fromServer: 0 };
    pairs.add(p);
    stats.open = pairs.size;
    client.once('close', () => {
      pairs.delete(p);
      stats.open = pairs.size;
      p.server?.destroy();
    });
    if (p.stalled) return; // accepted, never connected onwards, never answered

    const server = net.connect(target.port, target.host);
    p.server = server;
    server.setNoDelay(true);
    client.setNoDelay(true);
    server.on('error', () => {});
    server.once('close', () => {
      if (!p.stalled) client.destroy();
    });
    client.on('data', (d: Buffer) => {
      if (sentBytes < 1 << 20) {
        sent.push(d);
        sentBytes += d.length;
      }
      if (p.stalled) return;
      if (lose && lose.count > 0 && d.includes(lose.text)) {
        if (--lose.count === 0) lose = null;
        stats.cuts++;
        server.write(d);
        p.stalled = true; // the reply is dropped; the server has the time it needs, then both sides go
        setTimeout(() => destroy(p), 300);
        return;
      }
      server.write(d);
    });
    server.on('data', (d: Buffer) => {
      if (p.stalled) return;
      if (cut && p.fromServer + d.length >= cut.bytes) {
        const room = Math.max(0, cut.bytes - p.fromServer);
        if (room) client.write(d.subarray(0, room));
        p.fromServer += room;
        stats.bytesFromServer += room;
        stats.cuts++;
        if (cut.once) cut = null;
        // Let the partial bytes reach the client, then cut both sides.
        client.end(() => destroy(p));
        server.destroy();
        p.stalled = true;
        return;
      }
      p.fromServer += d.length;
      stats.bytesFromServer += d.length;
      client.write(d);
    });
  }

  async function listen() {
    const srv = net.createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject);
        resolve();
      });
    });
    port = (srv.address() as net.AddressInfo).port;
    listener = srv;
  }

  async function unlisten() {
    const srv = listener;
    listener = null;
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  function dropAll(opts: { reset?: boolean } = {}) {
    for (const p of pairs) {
      p.stalled = false;
      destroy(p, opts.reset);
    }
  }

  await listen();

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    url(t) {
      const u = new URL(t);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    setMode(m) {
      mode = m;
    },
    cutAfter(bytes, opts = {}) {
      cut = { bytes, once: opts.once ?? true };
    },
    loseReplyTo(text, count = 1) {
      lose = { text, count };
    },
    stallOpen() {
      for (const p of pairs) p.stalled = true;
    },
    fromClients: () => Buffer.concat(sent).toString('latin1'),
    dropAll,
    async refuse() {
      const closing = unlisten();
      dropAll();
      await closing;
    },
    async accept() {
      if (!listener) await listen();
    },
    async restart() {
      const closing = unlisten();
      dropAll();
      await closing;
      await listen();
    },
    stats,
    async close() {
      const closing = unlisten();
      dropAll();
      await closing;
    },
  };
}
