// Deterministic test mail for the benchmark: a seeded PRNG drives every choice, so the same --seed and --n give
// byte-identical messages on every machine. Nothing here touches src/.
import fs from 'node:fs';
import { createCipheriv, createHash } from 'node:crypto';

// ---- PRNG -------------------------------------------------------------------------------------------------

/** mulberry32: tiny, fast, good enough for picking words. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)];
  }
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += Math.floor(this.next() * 16).toString(16);
    return s;
  }
}

/** Deterministic pseudo-random bytes (AES-128-CTR keystream keyed by seed and label): fast and seedable. */
export function keystream(seed: number, label: string) {
  const key = createHash('sha256').update(`bench:${seed}:${label}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return (n: number): Buffer => cipher.update(Buffer.alloc(n));
}

// ---- text ---------------------------------------------------------------------------------------------------

type Lang = 'en' | 'ru' | 'tg';

const SENTENCES: Record<Lang, string[]> = {
  en: [
    'I read the story of Khurshed Bobokalonov today and I cannot stop thinking about his family.',
    'Please add my name to the appeal to the Prosecutor General.',
    'Our group in Berlin will hold a vigil on Saturday in front of the embassy.',
    'Attached is a short video of students reading the names aloud.',
    'Torture has no place in any justice system, and impunity only breeds more of it.',
    'We shared the campaign in our newsletter, which goes to about four thousand readers.',
    'My cousin was detained in Khujand in 2019 and we never learned what happened to him.',
    'Thank you for documenting these cases so carefully; it matters more than you know.',
    'Could you send the printable poster again? The link in yesterday\'s mail did not open.',
    'The families deserve answers, and the officers responsible must be held to account.',
    'I am a lawyer and would be glad to help review the case files if that is useful.',
    'Here is the photo from our event at the university library.',
    'Please keep my name out of anything published; I still travel to Dushanbe.',
    'We translated story number four into German and French for our partners.',
    'Solidarity from Almaty. We are following every day of the campaign.',
  ],
  ru: [
    'Сегодня я прочитала историю Хуршеда Бобокалонова и до сих пор не могу прийти в себя.',
    'Пожалуйста, добавьте мою подпись под обращением к Генеральному прокурору.',
    'Наша группа в Москве проведёт пикет в субботу, если нам разрешат.',
    'Во вложении короткое видео, где студенты зачитывают имена пострадавших.',
    'Пытки недопустимы ни при каких обстоятельствах, а безнаказанность порождает новые.',
    'Мы разослали материалы кампании по нашей рассылке, это около трёх тысяч адресатов.',
    'Моего брата задержали в Курган-Тюбе в 2018 году, и семья до сих пор ничего не знает.',
    'Спасибо вам за эту работу, она очень важна для родственников.',
    'Не могли бы вы ещё раз прислать плакат для печати? Ссылка не открывается.',
    'Семьи заслуживают ответов, а виновные сотрудники должны понести ответственность.',
    'Я юрист и готов помочь с анализом материалов дела, если это нужно.',
    'Вот фотография с нашей акции у здания библиотеки.',
    'Прошу не указывать моё имя в публикациях, я всё ещё езжу в Душанбе.',
    'Мы перевели четвёртую историю на узбекский язык для наших партнёров.',
    'Солидарность из Бишкека. Мы следим за каждым днём кампании.',
  ],
  tg: [
    'Имрӯз ман қиссаи Хуршед Бобокалоновро хондам ва то ҳол ором шуда наметавонам.',
    'Лутфан имзои маро ба муроҷиатнома ба Додситони кулл илова кунед.',
    'Гурӯҳи мо рӯзи шанбе дар назди сафорат ҷамъомад мегузаронад.',
    'Дар замима навори кӯтоҳе ҳаст, ки донишҷӯён номҳоро мехонанд.',
    'Шиканҷа дар ҳеҷ низоми адолат ҷой надорад.',
    'Мо маводи маъракаро ба ҳамаи шиносҳоямон фиристодем.',
    'Бародари маро соли 2019 дар Хуҷанд дастгир карданд ва мо то ҳол хабар надорем.',
    'Ташаккур барои ин кор, он барои оилаҳо хеле муҳим аст.',
    'Оилаҳо сазовори ҷавоб ҳастанд ва гунаҳкорон бояд ҷавоб диҳанд.',
    'Ин акси чорабинии мо дар назди китобхона аст.',
    'Лутфан номи маро нашр накунед, ман ҳоло ҳам ба Душанбе меравам.',
    'Ҳамбастагӣ аз Истаравшан. Мо ҳар рӯзи маъракаро пайгирӣ мекунем.',
  ],
};

const SUBJECTS: Record<Lang, string[]> = {
  en: ['Support for the campaign', 'Story 8', 'Our vigil on Saturday', 'Video from students', 'Signature', 'Question about the poster', 'Thank you', '#notorturetj'],
  ru: ['Поддержка кампании', 'История 8', 'Пикет в субботу', 'Видео от студентов', 'Подпись', 'Вопрос о плакате', 'Спасибо', '#notorturetj'],
  tg: ['Дастгирии маърака', 'Қиссаи 8', 'Ҷамъомад рӯзи шанбе', 'Навор аз донишҷӯён', 'Имзо', 'Ташаккур', '#notorturetj'],
};

const NAMES: Record<Lang, string[]> = {
  en: ['Anna Becker', 'John Miller', 'Sophie Laurent', 'Michael O\'Neil', 'Laura Schmidt', 'David Chen'],
  ru: ['Мария Иванова', 'Алексей Петров', 'Ольга Смирнова', 'Дмитрий Козлов', 'Екатерина Волкова', 'Сергей Новиков'],
  tg: ['Фарзона Раҳимова', 'Ҷамшед Сафаров', 'Нилуфар Қодирова', 'Рустам Ҳасанов', 'Мадина Шарифова', 'Ӯмед Назаров'],
};

const DOMAINS = ['mail.example.org', 'example.tj', 'post.example.ru', 'inbox.example.de', 'ngo.example.kg'];

function paragraphs(rng: Rng, lang: Lang): string[] {
  const out: string[] = [];
  const np = rng.int(1, 4);
  for (let p = 0; p < np; p++) {
    const ns = rng.int(1, 5);
    const s: string[] = [];
    for (let i = 0; i < ns; i++) s.push(rng.pick(SENTENCES[lang]));
    out.push(s.join(' '));
  }
  return out;
}

/** Word-wrap at `width` columns (no line of a generated message comes near the 998-octet limit). */
function wrap(text: string, width = 72): string[] {
  const lines: string[] = [];
  for (const para of text.split('\n')) {
    if (para === '') {
      lines.push('');
      continue;
    }
    let cur = '';
    for (const w of para.split(' ')) {
      if (cur && cur.length + 1 + w.length > width) {
        lines.push(cur);
        cur = w;
      } else cur = cur ? `${cur} ${w}` : w;
    }
    lines.push(cur);
  }
  return lines;
}

// ---- charsets and transfer encodings -----------------------------------------------------------------------

const reverseMaps = new Map<string, Map<string, number>>();
function reverseMap(charset: string): Map<string, number> {
  let m = reverseMaps.get(charset);
  if (!m) {
    m = new Map();
    const dec = new TextDecoder(charset);
    for (let b = 0x80; b <= 0xff; b++) m.set(dec.decode(Uint8Array.of(b)), b);
    reverseMaps.set(charset, m);
  }
  return m;
}

/** Text to bytes in utf-8, windows-1251 or koi8-r (Node's TextEncoder speaks only utf-8). */
export function encodeCharset(text: string, charset: string): Buffer {
  if (charset === 'utf-8') return Buffer.from(text, 'utf8');
  const m = reverseMap(charset);
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    out[n++] = c < 0x80 ? c : (m.get(ch) ?? 0x3f);
  }
  return out.subarray(0, n);
}

function qpEncode(buf: Buffer): string {
  const lines: string[] = [];
  let line = '';
  const push = (tok: string) => {
    if (line.length + tok.length > 75) {
      lines.push(line + '=');
      line = '';
    }
    line += tok;
  };
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b === 0x0a) {
      // a trailing space or tab must be encoded
      if (line.endsWith(' ') || line.endsWith('\t'))
        line = line.slice(0, -1) + '=' + line.charCodeAt(line.length - 1).toString(16).toUpperCase().padStart(2, '0');
      lines.push(line);
      line = '';
      continue;
    }
    if (b === 0x0d) continue;
    if ((b >= 33 && b <= 126 && b !== 61) || b === 32 || b === 9) push(String.fromCharCode(b));
    else push('=' + b.toString(16).toUpperCase().padStart(2, '0'));
  }
  lines.push(line);
  return lines.join('\r\n');
}

function b64Lines(buf: Buffer): string {
  const s = buf.toString('base64');
  const out: string[] = [];
  for (let i = 0; i < s.length; i += 76) out.push(s.slice(i, i + 76));
  return out.join('\r\n');
}

function encodedWords(text: string, charset: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const chars = Array.from(text);
  const words: string[] = [];
  for (let i = 0; i < chars.length; i += 12) {
    const chunk = chars.slice(i, i + 12).join('');
    words.push(`=?${charset.toUpperCase()}?B?${encodeCharset(chunk, charset).toString('base64')}?=`);
  }
  return words.join('\r\n ');
}

type Cte = 'quoted-printable' | 'base64' | '8bit';

function bodyPart(contentType: string, charset: string, cte: Cte, text: string): string {
  const bytes = encodeCharset(text.replace(/\r?\n/g, '\n'), charset);
  let body: string;
  if (cte === 'quoted-printable') body = qpEncode(bytes);
  else if (cte === 'base64') body = b64Lines(bytes);
  else body = bytes.toString('latin1').replace(/\n/g, '\r\n'); // bytes carried as latin1 -> re-encoded below
  return `Content-Type: ${contentType}; charset="${charset}"\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}\r\n`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---- messages ------------------------------------------------------------------------------------------------

export interface GeneratedMessage {
  raw: Buffer;
  attachments: number;
  attachmentBytes: number;
  kind: string;
}

export interface MixSummary {
  count: number;
  bytes: number;
  byLang: Record<string, number>;
  byCharset: Record<string, number>;
  html: number;
  replies: number;
  smallAttachments: number;
  largeAttachments: number;
  attachments: number;
  attachmentBytes: number;
}

const JPEG_MAGIC = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');
const MP4_MAGIC = Buffer.from('000000186674797069736f6d0000020069736f6d', 'hex');
const PNG_MAGIC = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

function binaryAttachment(seed: number, i: number, size: number, kind: 'jpeg' | 'png' | 'mp4'): Buffer {
  const magic = kind === 'jpeg' ? JPEG_MAGIC : kind === 'png' ? PNG_MAGIC : MP4_MAGIC;
  const body = keystream(seed, `att-${i}`)(size);
  magic.copy(body, 0);
  return body;
}

/**
 * Message i of a run. Roughly: 35% English, 35% Russian (60% utf-8, 25% windows-1251, 15% koi8-r), 30% Tajik
 * (utf-8); 40% with an HTML alternative; 30% replies quoting an earlier message; 10% with a 50-300 KB image or
 * video-like binary; one in 400 with a 1-2 MB video.
 */
export function generateMessages(n: number, seed: number): { messages: GeneratedMessage[]; summary: MixSummary } {
  const rng = new Rng(seed);
  const messages: GeneratedMessage[] = [];
  const prior: Array<{ id: string; subject: string; lines: string[]; from: string }> = [];
  const summary: MixSummary = {
    count: n,
    bytes: 0,
    byLang: {},
    byCharset: {},
    html: 0,
    replies: 0,
    smallAttachments: 0,
    largeAttachments: 0,
    attachments: 0,
    attachmentBytes: 0,
  };
  const base = Date.UTC(2026, 11, 1, 6, 0, 0);
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    const lang: Lang = r < 0.35 ? 'en' : r < 0.7 ? 'ru' : 'tg';
    let charset = 'utf-8';
    if (lang === 'ru') {
      const c = rng.next();
      charset = c < 0.6 ? 'utf-8' : c < 0.85 ? 'windows-1251' : 'koi8-r';
    }
    const cte: Cte =
      charset === 'utf-8'
        ? rng.pick(['quoted-printable', 'quoted-printable', 'base64', '8bit'] as const)
        : rng.pick(['quoted-printable', '8bit'] as const);
    const name = rng.pick(NAMES[lang]);
    const addr = `sender${rng.int(1, 900)}@${rng.pick(DOMAINS)}`;
    const msgId = `<bench.${seed}.${i}.${rng.hex(8)}@${addr.split('@')[1]}>`;
    const date = new Date(base + i * 37_000 + rng.int(0, 30_000));

    const isReply = prior.length > 5 && rng.chance(0.3);
    const orig = isReply ? prior[rng.int(Math.max(0, prior.length - 200), prior.length - 1)] : null;
    const subject = orig ? `Re: ${orig.subject.replace(/^(Re: )+/, '')}` : `${rng.pick(SUBJECTS[lang])} #${i}`;
    const paras = paragraphs(rng, lang);
    const lines = wrap(paras.join('\n\n'));
    const textLines = [...lines];
    if (orig) {
      textLines.push('', `${orig.from} wrote:`, ...orig.lines.map((l) => (l ? `> ${l}` : '>')));
    }
    textLines.push('', '-- ', name);
    const text = textLines.join('\n');

    const withHtml = rng.chance(0.4);
    const big = i % 400 === 199;
    const small = !big && rng.chance(0.1);
    const atts: Array<{ ct: string; name: string; data: Buffer }> = [];
    if (small) {
      const kind = rng.pick(['jpeg', 'jpeg', 'png', 'mp4'] as const);
      const size = rng.int(50_000, 300_000);
      const ext = kind === 'mp4' ? 'mp4' : kind;
      const ct = kind === 'mp4' ? 'video/mp4' : `image/${kind}`;
      const fname = lang === 'en' ? `photo_${i}.${ext}` : lang === 'ru' ? `фото_${i}.${ext}` : `акс_${i}.${ext}`;
      atts.push({ ct, name: fname, data: binaryAttachment(seed, i, size, kind) });
    }
    if (big) {
      const size = rng.int(1_000_000, 2_000_000);
      atts.push({ ct: 'video/mp4', name: `video_${i}.mp4`, data: binaryAttachment(seed, i, size, 'mp4') });
    }

    const head = [
      `Return-Path: <${addr}>`,
      `Received: from ${addr.split('@')[1]} (${addr.split('@')[1]} [192.0.2.${i % 250}])\r\n\tby mx.notorture.example.org with ESMTPS id ${rng.hex(12)}\r\n\tfor <campaign@notorture.example.org>; ${date.toUTCString()}`,
      `From: ${encodedWords(name, charset)} <${addr}>`,
      'To: campaign@notorture.example.org',
      `Subject: ${encodedWords(subject, charset)}`,
      `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: ${msgId}`,
      ...(orig ? [`In-Reply-To: ${orig.id}`, `References: ${orig.id}`] : []),
      'MIME-Version: 1.0',
      `X-Mailer: bench-gen/1 (${lang})`,
    ].join('\r\n');

    const plain = (ct: string, body: string) => bodyPart(ct, charset, cte, body);
    const html = () => {
      const inner = paras.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
      const quoted = orig ? `\n<blockquote type="cite">${orig.lines.map(escapeHtml).join('<br>\n')}</blockquote>` : '';
      return `<html><head><meta charset="${charset}"></head><body>\n${inner}${quoted}\n<p>-- <br>${escapeHtml(name)}</p>\n</body></html>`;
    };
    let bodyEntity: string; // headers (Content-Type...) + blank line + body
    if (withHtml) {
      const b = `alt_${seed}_${i}_${rng.hex(6)}`;
      bodyEntity =
        `Content-Type: multipart/alternative; boundary="${b}"\r\n\r\n` +
        `--${b}\r\n${plain('text/plain', text)}--${b}\r\n${plain('text/html', html())}--${b}--\r\n`;
    } else bodyEntity = plain('text/plain', text);

    let entity: string;
    if (atts.length) {
      const b = `mix_${seed}_${i}_${rng.hex(6)}`;
      const parts = atts.map((a) => {
        const fn = encodedWords(a.name, 'utf-8');
        return `--${b}\r\nContent-Type: ${a.ct}; name="${fn}"\r\nContent-Disposition: attachment; filename="${fn}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64Lines(a.data)}\r\n`;
      });
      entity = `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\nThis is a multi-part message in MIME format.\r\n--${b}\r\n${bodyEntity}${parts.join('')}--${b}--\r\n`;
    } else entity = bodyEntity;

    // Headers and base64/QP are ASCII; 8bit bodies were carried as latin1 strings of the charset's bytes.
    const raw = Buffer.concat([Buffer.from(head + '\r\n', 'utf8'), Buffer.from(entity, 'latin1')]);
    messages.push({
      raw,
      attachments: atts.length,
      attachmentBytes: atts.reduce((s, a) => s + a.data.length, 0),
      kind: `${lang}/${charset}/${cte}${withHtml ? '+html' : ''}${orig ? '+reply' : ''}${small ? '+att' : ''}${big ? '+bigatt' : ''}`,
    });
    prior.push({ id: msgId, subject, lines, from: name });
    summary.bytes += raw.length;
    summary.byLang[lang] = (summary.byLang[lang] ?? 0) + 1;
    summary.byCharset[charset] = (summary.byCharset[charset] ?? 0) + 1;
    if (withHtml) summary.html++;
    if (orig) summary.replies++;
    if (small) summary.smallAttachments++;
    if (big) summary.largeAttachments++;
    summary.attachments += atts.length;
    summary.attachmentBytes += atts.reduce((s, a) => s + a.data.length, 0);
  }
  return { messages, summary };
}

// ---- the big message ------------------------------------------------------------------------------------------

/**
 * Streams one message with an `attachmentBytes` binary attachment (base64, 76-column lines) to `file`, never
 * holding more than ~1 MB. Returns the file size and the sha256 of the decoded attachment.
 */
export async function writeBigMessage(
  file: string,
  attachmentBytes: number,
  seed: number,
): Promise<{ fileBytes: number; attachmentBytes: number; sha256: string }> {
  const out = fs.createWriteStream(file);
  const write = (chunk: string | Buffer) =>
    new Promise<void>((resolve, reject) => {
      const ok = out.write(chunk, (err) => err && reject(err));
      if (ok) resolve();
      else out.once('drain', resolve);
    });
  const b = `big_${seed}`;
  await write(
    [
      'From: =?UTF-8?B?0KTQsNGA0LfQvtC90LAg0KDQsNKz0LjQvNC+0LLQsA==?= <sender1@example.tj>',
      'To: campaign@notorture.example.org',
      'Subject: =?UTF-8?B?0J3QsNCy0L7RgCDQsNC3INGH0L7RgNCx0LDQs9C4?=',
      'Date: Tue, 08 Dec 2026 10:00:00 +0000',
      `Message-ID: <bench.big.${seed}@example.tj>`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset="utf-8"',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Видео аз ҷамъомад дар Душанбе. A long video from the vigil, attached.',
      '',
      `--${b}`,
      'Content-Type: video/mp4; name="vigil.mp4"',
      'Content-Disposition: attachment; filename="vigil.mp4"',
      'Content-Transfer-Encoding: base64',
      '',
      '',
    ].join('\r\n'),
  );
  const next = keystream(seed, 'big');
  const hash = createHash('sha256');
  const CHUNK = 57 * 16384; // a multiple of 57 bytes = whole 76-column base64 lines
  let left = attachmentBytes;
  let first = true;
  while (left > 0) {
    const n = Math.min(CHUNK, left);
    const data = next(n);
    if (first) {
      MP4_MAGIC.copy(data, 0);
      first = false;
    }
    hash.update(data);
    const s = data.toString('base64');
    const lines: string[] = [];
    for (let i = 0; i < s.length; i += 76) lines.push(s.slice(i, i + 76));
    await write(lines.join('\r\n') + '\r\n');
    left -= n;
  }
  await write(`--${b}--\r\n`);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { fileBytes: fs.statSync(file).size, attachmentBytes, sha256: hash.digest('hex') };
}
