// RELIABILITY B12: the IMAP connection verifies the server's certificate, always. A certificate the system
// does not trust is refused before a login is sent; a private CA is trusted only when IMAP_TLS_CA_FILE names it.
// fixtures/tls: a test CA (its key not kept) and a certificate it issued for 127.0.0.1, valid until 2126.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eml, makeTestApp, type TestApp } from '../helpers/app.ts';
import { startTestImapServer, type TestImapServer } from '../helpers/imap-server.ts';
import { makeImapInbox } from '../../src/adapters/imap.ts';
import { PROJECT_ROOT } from '../../src/config.ts';

const TLS = path.join(PROJECT_ROOT, 'fixtures/tls');
const key = fs.readFileSync(path.join(TLS, 'localhost-key.pem'));
const cert = fs.readFileSync(path.join(TLS, 'localhost.pem'));

describe('IMAP over TLS (B12)', () => {
  let server: TestImapServer;
  let app: TestApp;
  afterEach(async () => {
    await app?.cleanup();
    await server?.close();
  });

  it('refuses a server whose certificate is not trusted, before any login', async () => {
    server = await startTestImapServer({ tls: { key, cert }, messages: [eml({ subject: 'a' })] });
    app = await makeTestApp('pglite', { IMAP_URL: server.url });
    const ib = makeImapInbox(app.deps, app.config.imap!);
    try {
      await expect(ib.drain(new AbortController().signal)).rejects.toThrow(/IMAP: .*(certificate|issuer)/i);
    } finally {
      await ib.close();
    }
    expect(server.sessionsOpened()).toBe(0); // no handshake completed, so no credentials went out
  });

  it('trusts a private CA named by IMAP_TLS_CA_FILE, and then reads the mailbox', async () => {
    server = await startTestImapServer({ tls: { key, cert }, messages: [eml({ subject: 'a' }), eml({ subject: 'b' })] });
    app = await makeTestApp('pglite', { IMAP_URL: server.url, IMAP_TLS_CA_FILE: path.join(TLS, 'test-ca.pem') });
    const ib = makeImapInbox(app.deps, app.config.imap!);
    try {
      expect(await ib.drain(new AbortController().signal)).toMatchObject({ stored: 2 });
    } finally {
      await ib.close();
    }
  });
});
