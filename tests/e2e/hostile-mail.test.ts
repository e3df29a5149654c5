// What the whole CLI does with mail that tests its edges, end to end (import, then run --once writing the
// acknowledgements as .eml files): a supporter's name, address and words never reach the logs (RELIABILITY
// H5), outgoing mail names no machine, address or user of ours (H11), a message of 0, 1 or 3 bytes is stored
// and never acknowledged (E8), and a Date in the year 3000 or one that is not a date changes nothing: our own
// received time orders the mail (E6).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';

const CANARY = 'Kanareika7731';

describe('mail at the edges, through the CLI', () => {
  const dataDir = tempDir('intake-edges-');
  const env = { INTAKE_DATA_DIR: dataDir, LOG_LEVEL: 'info', SMTP_URL: undefined };
  const logs: string[] = [];
  let listing: any[];
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const mail = (o: { from: string; subject: string; date: string; id: string; body: string; attachment?: string }) =>
    [
      `From: ${o.from}`,
      'To: notorturetj@example.org',
      `Subject: ${o.subject}`,
      `Message-ID: <${o.id}@example.org>`,
      `Date: ${o.date}`,
      'MIME-Version: 1.0',
      ...(o.attachment
        ? ['Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: text/plain; charset=utf-8', '', o.body, '--b',
           `Content-Type: application/pdf; name="${o.attachment}"`, `Content-Disposition: attachment; filename="${o.attachment}"`,
           'Content-Transfer-Encoding: base64', '', Buffer.from('%PDF-1.4').toString('base64'), '--b--']
        : ['Content-Type: text/plain; charset=utf-8', '', o.body]),
      '',
    ].join('\r\n');

  beforeAll(async () => {
    const src = path.join(dataDir, 'mail');
    fs.mkdirSync(src);
    fs.writeFileSync(
      path.join(src, 'canary.eml'),
      mail({
        from: `"Farida ${CANARY}" <farida.${CANARY.toLowerCase()}@example.org>`,
        subject: `8. Khurshed, from ${CANARY}`,
        date: 'Tue, 08 Dec 2026 10:00:00 +0500',
        id: 'canary',
        body: `Khurshed, we are with you. ${CANARY}`,
        attachment: `${CANARY}.pdf`,
      }),
    );
    fs.writeFileSync(path.join(src, 'future.eml'), mail({ from: 'a@example.org', subject: '8. Khurshed', date: 'Tue, 08 Dec 3000 10:00:00 +0500', id: 'future', body: 'For Khurshed.' }));
    fs.writeFileSync(path.join(src, 'nodate.eml'), mail({ from: 'b@example.org', subject: '8. Khurshed', date: 'the day after tomorrow', id: 'nodate', body: 'For Khurshed.' }));
    fs.writeFileSync(path.join(src, 'zero.eml'), '');
    fs.writeFileSync(path.join(src, 'one.eml'), 'x');
    fs.writeFileSync(path.join(src, 'three.eml'), 'a:b');
    for (const args of [['import', src], ['run', '--once']]) {
      const r = await runCli(args, env);
      expect(r.code, r.stderr).toBe(0);
      logs.push(r.stderr);
    }
    listing = JSON.parse((await runCli(['messages', '--json'], env)).stdout);
  }, 120_000);

  it('H5: the sender\'s name, address, subject, words and file name never appear in the logs at info', () => {
    expect(logs.join('\n')).toMatch(/message stored/); // the logs are there, at info
    expect(logs.join('\n').toLowerCase()).not.toContain(CANARY.toLowerCase());
  });

  it('H11: an acknowledgement names no host, address or user of this machine', () => {
    const sent = fs.readdirSync(path.join(dataDir, 'sent')).filter((f) => f.endsWith('.eml'));
    // The canary, the future and the undated mail; after the campaign's digest hour the day's digest is sent
    // too, and is held to the same rules.
    expect(sent.filter((f) => f.endsWith('-ack.eml'))).toHaveLength(3);
    expect(sent.filter((f) => !f.endsWith('-ack.eml')).every((f) => f.endsWith('-daily_digest.eml'))).toBe(true);
    const ifaces = Object.values(os.networkInterfaces()).flat().map((i) => i!.address);
    for (const f of sent) {
      const text = fs.readFileSync(path.join(dataDir, 'sent', f), 'utf8');
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      expect(head).toMatch(/^Message-ID: <[^@>]+@notorture\.example\.org>$/m); // the campaign's own domain
      expect(head).not.toMatch(/^(X-Mailer|User-Agent|Received|X-Originating-IP):/im);
      for (const leak of [os.hostname(), os.userInfo().username, ...ifaces, dataDir]) expect(head).not.toContain(leak);
      expect(head).toMatch(/^Date: .* \+0000$/m); // no local time zone either
    }
  });

  it('E8: messages of 0, 1 and 3 bytes are stored, parsed, and never acknowledged', () => {
    for (const name of ['zero.eml', 'one.eml', 'three.eml']) {
      const m = listing.find((x) => x.source.endsWith(`/${name}`));
      expect(m, name).toMatchObject({ status: 'parsed', ack: 'suppressed', ackReason: 'no valid sender address' });
      expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('E6: a Date in the year 3000 or no date at all: stored, acknowledged, in the order we received them', () => {
    for (const name of ['future.eml', 'nodate.eml']) {
      expect(listing.find((x) => x.source.endsWith(`/${name}`)), name).toMatchObject({ status: 'parsed', classification: 'submission', story: 8, ack: 'sent' });
    }
    const received = listing.map((m) => Date.parse(m.receivedAt));
    expect(received.every((t) => t <= Date.now())).toBe(true);
    expect(listing.map((m) => m.id)).toEqual([...listing].sort((a, b) => Date.parse(a.receivedAt) - Date.parse(b.receivedAt) || a.id - b.id).map((m) => m.id));
  });
});
