// Acknowledgements and the outbox from the command line: `run --once` decides and sends, `intake outbox` and
// `intake messages` show the states and reasons, `outbox retry` takes only a failed row, and `doctor` reports a
// refused SMTP login while ingestion goes on. Logs carry ids, never the supporter's address.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml, tempDir } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const json = (s: string) => JSON.parse(s);
// Each case runs the bin a dozen times (about 4 s each on PGlite, more on a busy machine).

describe('intake outbox and acknowledgements', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink({ auth: true });
  });
  afterAll(async () => {
    await sink?.close();
  });

  it('run --once acknowledges a submission as an .eml file and records why an auto-reply got none', async () => {
    const dataDir = tempDir('intake-outbox-cli-');
    const env = { INTAKE_DATA_DIR: dataDir };
    try {
      const src = path.join(dataDir, 'mail');
      fs.mkdirSync(src);
      fs.writeFileSync(
        path.join(src, 'a.eml'),
        eml({ from: 'Nigora <nigora@example.tj>', subject: 'Story 8', headers: { 'Return-Path': '<nigora@example.tj>' }, body: 'For Khurshed.\r\n' }),
      );
      fs.writeFileSync(
        path.join(src, 'b.eml'),
        eml({ from: 'Away <away@example.tj>', subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied', 'Return-Path': '<away@example.tj>' } }),
      );
      expect((await runCli(['import', src], env)).code).toBe(0);
      const run = await runCli(['run', '--once'], env);
      expect(run.code).toBe(0);
      expect(run.stderr).not.toContain('nigora@example.tj');

      const rows = json((await runCli(['outbox', '--json'], env)).stdout).filter((r: any) => r.kind === 'ack');
      expect(rows).toHaveLength(2);
      const sent = rows.find((r: any) => r.state === 'sent');
      const suppressed = rows.find((r: any) => r.state === 'suppressed');
      expect(sent).toMatchObject({ kind: 'ack', to: 'nigora@example.tj', subject: 'Thank you: story 8', attempts: 1, lastError: null, messageId: expect.any(Number) });
      expect(suppressed).toMatchObject({ to: 'away@example.tj', reason: expect.stringMatching(/^auto_reply/) });
      expect(Object.keys(sent)).toEqual(expect.arrayContaining(['id', 'kind', 'to', 'subject', 'state', 'attempts', 'lastError', 'messageId', 'reason']));

      const files = fs.readdirSync(path.join(dataDir, 'sent'));
      expect(files).toContain(`${sent.id}-ack.eml`);

      const messages = json((await runCli(['messages', '--json'], env)).stdout);
      expect(messages.find((m: any) => m.id === sent.messageId)).toMatchObject({ ack: 'sent', ackReason: null });
      expect(messages.find((m: any) => m.id === suppressed.messageId)).toMatchObject({ ack: 'suppressed', ackReason: expect.stringMatching(/^auto_reply/) });
      const listing = (await runCli(['messages'], env)).stdout;
      expect(listing).toMatch(/ack sent/);
      expect(listing).toMatch(/no ack: auto_reply/);
      expect((await runCli(['outbox'], env)).stdout).toMatch(/suppressed/);

      const retrySent = await runCli(['outbox', 'retry', String(sent.id)], env);
      expect(retrySent.code).toBe(1);
      expect(retrySent.stderr).toMatch(/is sent \(only failed rows are retried\)/);
      expect((await runCli(['outbox', 'retry', '999999'], env)).code).toBe(1);
      expect((await runCli(['outbox', 'retry', 'x'], env)).code).toBe(2);

      // A second pass sends nothing again.
      expect((await runCli(['run', '--once'], env)).code).toBe(0);
      expect(fs.readdirSync(path.join(dataDir, 'sent')).filter((f) => f.endsWith('-ack.eml'))).toHaveLength(1);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);

  it('a process killed after the server took the mail, before the row was marked sent, never sends it again', async () => {
    const dataDir = tempDir('intake-outbox-crash-');
    const env = { INTAKE_DATA_DIR: dataDir, SMTP_URL: sink.url };
    try {
      const src = path.join(dataDir, 'mail');
      fs.mkdirSync(src);
      fs.writeFileSync(path.join(src, 'a.eml'), eml({ from: 'Sitora <sitora@example.tj>', subject: 'Story 8', headers: { 'Return-Path': '<sitora@example.tj>' } }));
      expect((await runCli(['import', src], env)).code).toBe(0);
      const killed = await runCli(['run', '--once'], { ...env, INTAKE_FAILPOINTS: 'outbox.after-send=crash' });
      expect(killed.signal).toBe('SIGKILL');
      expect(sink.received.filter((r) => r.rcptTo[0] === 'sitora@example.tj')).toHaveLength(1);
      expect((await runCli(['run', '--once'], env)).code).toBe(0);
      const [row] = json((await runCli(['outbox', '--json'], env)).stdout).filter((r: any) => r.kind === 'ack');
      expect(row).toMatchObject({ state: 'uncertain', lastError: expect.stringMatching(/may or may not have been delivered/) });
      expect(sink.received.filter((r) => r.rcptTo[0] === 'sitora@example.tj')).toHaveLength(1);
      const doctor = json((await runCli(['doctor', '--json'], env)).stdout).checks.find((c: any) => c.name === 'outbox');
      expect(doctor).toMatchObject({ ok: true, detail: expect.stringContaining('"uncertain":1'), fix: expect.stringMatching(/retry <id> --force/) });
      expect((await runCli(['outbox', 'retry', String(row.id)], env)).stderr).toMatch(/may already have been delivered/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);

  it('a refused SMTP login pauses sending, shows in doctor, and ingestion goes on; retry takes a failed row', async () => {
    const dataDir = tempDir('intake-outbox-smtp-');
    const env = { INTAKE_DATA_DIR: dataDir, SMTP_URL: sink.url.replace(':right@', ':wrong@') };
    try {
      const src = path.join(dataDir, 'mail');
      fs.mkdirSync(src);
      fs.writeFileSync(path.join(src, 'a.eml'), eml({ from: 'Farrukh <farrukh@example.tj>', subject: 'Story 8', headers: { 'Return-Path': '<farrukh@example.tj>' } }));
      expect((await runCli(['import', src], env)).code).toBe(0);
      const run = await runCli(['run', '--once'], env);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/sending paused/);
      const msgs = json((await runCli(['messages', '--json'], env)).stdout);
      expect(msgs).toHaveLength(1);
      expect(msgs[0]).toMatchObject({ classification: 'submission', ack: 'queued' });

      const doctor = await runCli(['doctor', '--json'], env);
      expect(doctor.code).toBe(1);
      const mail = json(doctor.stdout).checks.find((c: any) => c.name === 'outgoing mail');
      expect(mail.ok).toBe(false);
      expect(mail.detail).toMatch(/535/);
      expect(mail.detail).toMatch(/sending paused since/);
      expect(mail.fix).toMatch(/user and password in SMTP_URL/);

      // The right password, but the recipient is refused: a 5xx fails the row; staff retry it once fixed.
      sink.fallback = 'reject';
      const good = { ...env, SMTP_URL: sink.url };
      expect((await runCli(['run', '--once'], good)).code).toBe(0);
      const [row] = json((await runCli(['outbox', '--json'], good)).stdout).filter((r: any) => r.kind === 'ack');
      expect(row).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/550/) });
      sink.fallback = 'accept';
      expect((await runCli(['outbox', 'retry', String(row.id)], good)).code).toBe(0);
      expect((await runCli(['run', '--once'], good)).code).toBe(0);
      const [after] = json((await runCli(['outbox', '--json'], good)).stdout).filter((r: any) => r.kind === 'ack');
      expect(after).toMatchObject({ state: 'sent', attempts: 1 });
      expect(sink.received.filter((r) => r.rcptTo[0] === 'farrukh@example.tj')).toHaveLength(1);
      const ok = json((await runCli(['doctor', '--json'], good)).stdout).checks.find((c: any) => c.name === 'outgoing mail');
      expect(ok.ok).toBe(true);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
