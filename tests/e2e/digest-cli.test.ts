// The digest commands through the real `intake` bin, on the embedded database: a pass killed inside the digest
// transaction leaves nothing, the next pass sends the day's digest once, later passes and `--send` repeat
// nothing; previews, `name`, `publish`, and the families' compilations only with `--send --family`.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { eml, tempDir } from '../helpers/app.ts';
import { DEFAULT_CAMPAIGN } from '../../src/config.ts';
import { addDays, localDay } from '../../src/core/digest.ts';
import { ANY_ADDRESS, elements, strictParse, textOf } from '../helpers/html.ts';

const FAMILY = 'saodat.family@example.tj';
const SUPPORTER = 'nodira@example.tj';

// Every step is a child process opening the embedded database (seconds each on a loaded two-core machine).
const SLOW = { timeout: 300_000 };

describe('intake digest, name and publish', () => {
  let dir: string;
  let env: Record<string, string>;
  const sent = (kind: string) => {
    const d = path.join(env.INTAKE_DATA_DIR, 'sent');
    return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith(`-${kind}.eml`)) : [];
  };
  const intake = (...args: string[]) => runCli(args, env);

  beforeAll(() => {
    dir = tempDir('intake-digest-cli-');
    // The bin runs on the real clock: a campaign around today, digest hour 0, so today's digest is due now.
    const today = localDay(new Date(), 'Asia/Dushanbe');
    const c = JSON.parse(fs.readFileSync(DEFAULT_CAMPAIGN, 'utf8'));
    Object.assign(c, { startDate: addDays(today, -3), finalDate: addDays(today, 5), digestHour: 0, staff: ['staff@notorture.example.org'] });
    c.stories.find((s: { number: number }) => s.number === 8).familyContact = FAMILY;
    fs.writeFileSync(path.join(dir, 'campaign.json'), JSON.stringify(c));
    env = { INTAKE_DATA_DIR: path.join(dir, 'data'), INTAKE_CAMPAIGN: path.join(dir, 'campaign.json') };
    fs.writeFileSync(
      path.join(dir, 'a.eml'),
      eml({ from: `Nodira <${SUPPORTER}>`, to: 'campaign+story8@notorture.example.org', body: `We are with you. Write to ${SUPPORTER}\r\n\r\nNodira, Khujand\r\n` }),
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a pass killed inside the digest transaction sends nothing; the next sends once; later ones nothing', SLOW, async () => {
    expect((await intake('import', path.join(dir, 'a.eml'))).code).toBe(0);
    const killed = await runCli(['run', '--once'], { ...env, INTAKE_FAILPOINTS: 'digest.before-commit=crash' });
    expect(killed.signal).toBe('SIGKILL');
    expect(sent('daily_digest')).toHaveLength(0);
    const first = await intake('run', '--once');
    expect(first.code, first.stderr).toBe(0);
    expect(sent('daily_digest')).toHaveLength(1);
    expect((await intake('run', '--once')).code).toBe(0);
    expect(sent('daily_digest')).toHaveLength(1);
    const again = await intake('digest', 'daily', '--send');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already queued/);
    const mail = fs.readFileSync(path.join(env.INTAKE_DATA_DIR, 'sent', sent('daily_digest')[0]), 'utf8');
    expect(mail).toMatch(/^Subject: #notorturetj daily digest/m);
    expect(mail).toMatch(/multipart\/alternative/);
    expect(mail).not.toContain(SUPPORTER);
  });

  it('--preview writes the HTML and its text without sending; bad usage exits 2', SLOW, async () => {
    const file = path.join(dir, 'preview', 'daily.html');
    const r = await intake('digest', 'daily', '--preview', file);
    expect(r.code, r.stderr).toBe(0);
    const doc = strictParse(fs.readFileSync(file, 'utf8'));
    expect(textOf(doc)).toContain('8. Khurshed Bobokalonov');
    expect(fs.readFileSync(path.join(dir, 'preview', 'daily.txt'), 'utf8')).toContain('NEW ITEMS (1)');
    expect(sent('daily_digest')).toHaveLength(1);
    expect((await intake('digest', 'daily')).code).toBe(2);
    expect((await intake('digest', 'daily', '--date', '12/08/2026', '--send')).code).toBe(2);
    expect((await intake('digest', 'final', '--family')).code).toBe(2);
  });

  it('name, approve and publish: the bundle shows the name staff gave and no address', SLOW, async () => {
    const items = JSON.parse((await intake('items', '--json')).stdout);
    const id = String(items[0].id);
    expect((await intake('name', id, 'nodira@example.tj')).code).toBe(2);
    const named = await intake('name', id, 'Nodira K.', '--by', 'tester');
    expect(named.code, named.stderr).toBe(0);
    const history = JSON.parse((await intake('history', id, '--json')).stdout);
    expect(history.at(-1)).toMatchObject({ action: 'name' });
    expect((await intake('approve', id)).code).toBe(0);
    const site = path.join(dir, 'site');
    const pub = await intake('publish', site, '--json');
    expect(pub.code, pub.stderr).toBe(0);
    expect(JSON.parse(pub.stdout)).toMatchObject({ stories: 12, messages: 1 });
    const page = strictParse(fs.readFileSync(path.join(site, 'story-8.html'), 'utf8'));
    expect(elements(page, 'article').map(textOf).join()).toContain('— Nodira K.');
    for (const f of fs.readdirSync(site)) {
      if (!fs.statSync(path.join(site, f)).isFile()) continue;
      const text = fs.readFileSync(path.join(site, f), 'utf8');
      expect(text, f).not.toContain(SUPPORTER);
      expect(text.match(ANY_ADDRESS), f).toBeNull();
    }
  });

  it('the final digest goes to staff once; the family compilation only with --family, once', SLOW, async () => {
    const staff = await intake('digest', 'final', '--send');
    expect(staff.code, staff.stderr).toBe(0);
    expect(staff.stdout).toContain('final digest queued to 1 staff recipient');
    expect((await intake('run', '--once')).code).toBe(0);
    expect(sent('final_digest')).toHaveLength(1);
    expect(sent('family')).toHaveLength(0);
    const fam = await intake('digest', 'final', '--send', '--family');
    expect(fam.stdout).toContain('final digest to staff: already queued before');
    expect(fam.stdout).toContain('story 8: family compilation queued');
    expect((await intake('digest', 'final', '--send', '--family')).stdout).toContain('story 8: family compilation already queued before');
    expect((await intake('run', '--once')).code).toBe(0);
    expect(sent('final_digest')).toHaveLength(1);
    expect(sent('family')).toHaveLength(1);
    const mail = fs.readFileSync(path.join(env.INTAKE_DATA_DIR, 'sent', sent('family')[0]), 'utf8');
    expect(mail).toMatch(new RegExp(`^To: ${FAMILY.replace('.', '\\.')}`, 'm'));
    expect(mail).not.toContain(SUPPORTER);
  });
});
