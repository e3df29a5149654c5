import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, DEFAULT_CAMPAIGN } from '../../src/config.ts';
import { IntakeError } from '../../src/errors.ts';
import { tempDir } from '../helpers/app.ts';

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IntakeError);
    expect((err as IntakeError).code).toBe('CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('works with no settings at all: the data directory and the example campaign', () => {
    const c = loadConfig({});
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.campaignPath).toBe(DEFAULT_CAMPAIGN);
    expect(c.campaign.stories.find((s) => s.number === 8)?.victim).toBe('Khurshed Bobokalonov');
    expect(c.campaign.limits.videoSeconds).toBe(120);
    expect(c.imap).toBeUndefined();
    expect(c.smtpSocketTimeoutSeconds).toBe(60);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads IMAP_URL with URL-encoded credentials', () => {
    const c = loadConfig({ IMAP_URL: 'imaps://coalition%40example.org:p%40ss%2Fword@imap.example.org/Campaign%20Inbox' });
    expect(c.imap).toMatchObject({ user: 'coalition@example.org', password: 'p@ss/word', host: 'imap.example.org', port: 993, secure: true, mailbox: 'Campaign Inbox' });
  });

  it('names every bad setting at once', () => {
    const msg = problems(() => loadConfig({ DATABASE_URL: 'mysql://x', SMTP_URL: 'http://x', SMTP_SOCKET_TIMEOUT_SECONDS: '0', LOG_LEVEL: 'loud' }));
    expect(msg).toMatch(/DATABASE_URL/);
    expect(msg).toMatch(/SMTP_URL/);
    expect(msg).toMatch(/SMTP_SOCKET_TIMEOUT_SECONDS:/);
    expect(msg).toMatch(/LOG_LEVEL/);
    expect(problems(() => loadConfig({ IMAP_URL: 'imap://host/INBOX' }))).toMatch(/IMAP_URL: has no user name/);
  });

  it('names campaign keys that are wrong or unknown', () => {
    const dir = tempDir('intake-cfg-');
    const base = JSON.parse(fs.readFileSync(DEFAULT_CAMPAIGN, 'utf8'));
    const write = (c: unknown) => {
      const p = path.join(dir, `${Math.random()}.json`);
      fs.writeFileSync(p, JSON.stringify(c));
      return p;
    };
    const bad = write({ ...base, finalDate: '2026-11-01', digestHour: 25, extra: 1, limits: { videoSecs: 90 } });
    const msg = problems(() => loadConfig({ INTAKE_CAMPAIGN: bad }));
    expect(msg).toMatch(/campaign\.finalDate: is before startDate/);
    expect(msg).toMatch(/campaign\.digestHour/);
    expect(msg).toMatch(/campaign: unknown key\(s\) extra/);
    expect(msg).toMatch(/campaign\.limits: unknown key\(s\) videoSecs/);
    const dup = write({ ...base, stories: [base.stories[0], base.stories[0]] });
    expect(problems(() => loadConfig({ INTAKE_CAMPAIGN: dup }))).toMatch(/story 1 is listed twice/);
    expect(problems(() => loadConfig({ INTAKE_CAMPAIGN: path.join(dir, 'missing.json') }))).toMatch(/INTAKE_CAMPAIGN: cannot read/);
    fs.writeFileSync(path.join(dir, 'broken.json'), '{');
    expect(problems(() => loadConfig({ INTAKE_CAMPAIGN: path.join(dir, 'broken.json') }))).toMatch(/not valid JSON/);
  });
});
