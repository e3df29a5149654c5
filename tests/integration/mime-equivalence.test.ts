// parseMessageFile drives mailparser its own way (src/adapters/mime.ts: bytes straight to the splitter, body
// chunks handed on at once, only the headers read parsed). Whatever mailparser's version, the outcome must be
// the one of its own unmodified MailParser: the same text, HTML, subject and sender, and the same attachments,
// byte for byte, for every message of ../shared/corpus and for messages written to reach the paths changed
// (a message over 1 MiB, read in chunks, with parts split across many of them; attachments a later part must
// wait for; many parts).
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { MailParser } from 'mailparser';
import { tempDir } from '../helpers/app.ts';
import { BudgetExceeded, parseMessageFile } from '../../src/adapters/mime.ts';
import { sanitizeText } from '../../src/core/sanitize.ts';
import { PROJECT_ROOT } from '../../src/config.ts';

const CORPUS = path.resolve(PROJECT_ROOT, '../shared/corpus');
const budgets = { headerBytes: 256 * 1024, mimeParts: 1000, attachmentBytes: 64 << 20, parseMs: 30_000 };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? allFiles(p) : e.isFile() ? [p] : [];
  });
}

interface Outcome {
  text: string | null;
  html: string | null;
  subject: string | null;
  from: string | null;
  attachments: Array<{ sha256: string; size: number; contentType: string }>;
}

/** mailparser's MailParser as it comes, with the options parseMessageFile gives it; the bytes in small writes. */
async function reference(raw: Buffer): Promise<Outcome> {
  const parser = new MailParser({ skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true } as ConstructorParameters<typeof MailParser>[0]);
  const out: Outcome = { text: null, html: null, subject: null, from: null, attachments: [] };
  const saves: Promise<void>[] = [];
  parser.on('headers', (h: Map<string, any>) => {
    out.subject = typeof h.get('subject') === 'string' ? h.get('subject') : null;
    out.from = h.get('from')?.value?.[0]?.address?.toLowerCase() ?? null;
  });
  parser.on('data', (d: any) => {
    if (d.type === 'text') {
      out.text = typeof d.text === 'string' ? sanitizeText(d.text) : null;
      out.html = typeof d.html === 'string' ? sanitizeText(d.html) : null;
      return;
    }
    const hash = createHash('sha256');
    let size = 0;
    saves.push(
      new Promise<void>((resolve, reject) => {
        d.content.on('data', (c: Buffer) => {
          hash.update(c);
          size += c.length;
        });
        d.content.on('end', () => {
          out.attachments.push({ sha256: hash.digest('hex'), size, contentType: String(d.contentType).toLowerCase() });
          d.release();
          resolve();
        });
        d.content.on('error', reject);
      }),
    );
  });
  const chunks = Array.from({ length: Math.ceil(raw.length / 4096) }, (_, i) => raw.subarray(i * 4096, (i + 1) * 4096));
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    Readable.from(chunks).pipe(parser);
    parser.resume();
  });
  await Promise.all(saves);
  return out;
}

async function ours(file: string, dir: string): Promise<Outcome | 'budget'> {
  try {
    const p = await parseMessageFile(file, dir, 'a', budgets, `${path.basename(file)}.`);
    return {
      text: p.text,
      html: p.html,
      subject: p.subject,
      from: p.from?.address ?? null,
      attachments: p.attachments.map((a) => ({ sha256: a.sha256, size: a.size, contentType: a.contentType })),
    };
  } catch (err) {
    if (err instanceof BudgetExceeded) return 'budget';
    throw err;
  }
}

/** What both readings of a subject compare as: ours is one line of at most 998 characters. */
const oneLine = (s: string | null) => (s === null ? null : sanitizeText(s).replace(/\s+/g, ' ').trim().slice(0, 998));

async function compare(file: string, dir: string) {
  const raw = fs.readFileSync(file);
  const [mine, ref] = await Promise.all([ours(file, dir), reference(raw).catch((err: Error) => err)]);
  if (ref instanceof Error) return 'reference failed';
  if (mine === 'budget') return 'budget';
  expect({ ...mine, subject: oneLine(mine.subject) }, file).toEqual({ ...ref, subject: oneLine(ref.subject), from: mine.from === null ? null : ref.from });
  return 'same';
}

describe('parseMessageFile against mailparser as it comes', () => {
  it('gives the same text, HTML and attachments for every message of the corpus', async () => {
    const dir = tempDir('intake-equiv-');
    dirs.push(dir);
    const files = allFiles(CORPUS).filter((f) => !/^From \S+ +.*\d{1,2}:\d{2}/.test(fs.readFileSync(f, 'latin1').slice(0, 200)));
    expect(files.length).toBeGreaterThan(600);
    const tally: Record<string, number> = {};
    for (const f of files) {
      const r = await compare(f, dir);
      tally[r] = (tally[r] ?? 0) + 1;
    }
    // Nearly every message is compared; the few past a budget or that mailparser itself refuses are not.
    console.log(tally);
    expect(tally.same).toBeGreaterThan(files.length * 0.95);
  }, 120_000);

  it('gives the same for a streamed message of many parts, each split across many chunks', async () => {
    const dir = tempDir('intake-equiv-');
    dirs.push(dir);
    const b = 'bound';
    const lines = (n: number, w: string) => Array.from({ length: n }, (_, i) => `${w} ${i} Хуршед Бобокалонов #notorturetj`).join('\r\n');
    const bin = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));
    const parts = [
      `--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${lines(3000, 'строка=20')}\r\n`,
      ...Array.from({ length: 40 }, (_, i) => {
        const data = bin(1000 + i * 1500, i).toString('base64').replace(/.{76}/g, '$&\r\n');
        return `--${b}\r\nContent-Type: application/octet-stream; name="f${i}.bin"\r\nContent-Disposition: attachment; filename="f${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${data}\r\n`;
      }),
      `--${b}\r\nContent-Type: text/html; charset=windows-1251\r\n\r\n`,
    ];
    const html = Buffer.from('<p>We remember <b>Khurshed</b></p>\r\n'.repeat(2000), 'latin1');
    const head = `From: Nigora <nigora@example.tj>\r\nSubject: 8\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n`;
    const raw = Buffer.concat([Buffer.from(head + parts.join('')), html, Buffer.from(`\r\n--${b}--\r\n`)]);
    const file = path.join(dir, 'many.eml');
    fs.writeFileSync(file, raw);
    expect(raw.length).toBeGreaterThan(1 << 20); // streamed from the file, not read whole
    expect(await compare(file, dir)).toBe('same');
    const mine = (await ours(file, dir)) as Outcome;
    expect(mine.attachments).toHaveLength(40);
    expect(mine.text).toContain('строка  2999');
  });
});
