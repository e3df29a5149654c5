// Baseline for the ingest benchmark: the least a client can do to read a mailbox and parse every message.
// imapflow + mailparser's streaming MailParser (attachments drained and released), no database, no disk.
//
//   node --import tsx bench/baseline-imap.ts <imap-url> [--mode fetch|download] [--batch 200]
//
// --mode fetch     (default) UID FETCH BODY.PEEK[] for a batch of UIDs in one command (fetchAll), then parse
//                  each source from memory. One round trip per batch.
// --mode download  one `download()` per message, its stream piped into the parser (src/adapters/imap.ts does so
//                  only for messages over 1 MiB; smaller ones come in grouped FETCHes, as in --mode fetch).
//                  imapflow's download() fetches BODY.PEEK[]<offset.chunk> in --chunk sized pieces (64 KiB, its default;
//                  src asks 1 MiB), one round trip each. A diagnostic: the difference to `fetch`
//                  is the cost of serial round trips, not of the database or the disk.
// Prints one JSON line on stdout: counts, bytes and the time spent fetching and parsing.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImapFlow } from 'imapflow';
import { MailParser } from 'mailparser';

const args = process.argv.slice(2);
const url = new URL(args.find((a) => !a.startsWith('--') && /^imaps?:/.test(a)) ?? process.env.IMAP_URL ?? '');
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const mode = opt('mode', 'fetch');
const batchSize = Number(opt('batch', '200'));
const chunkSize = Number(opt('chunk', String(64 * 1024)));
const mailbox = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'INBOX';

interface Stats {
  messages: number;
  bytes: number;
  attachments: number;
  attachmentBytes: number;
  textChars: number;
  fetchMs: number;
  parseMs: number;
}
const stats: Stats = { messages: 0, bytes: 0, attachments: 0, attachmentBytes: 0, textChars: 0, fetchMs: 0, parseMs: 0 };

async function parse(input: Readable): Promise<void> {
  // The same options as src/adapters/mime.ts.
  const parser = new MailParser({ skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true } as ConstructorParameters<
    typeof MailParser
  >[0]);
  const drains: Promise<void>[] = [];
  parser.on('data', (data: any) => {
    if (data.type === 'text') {
      stats.textChars += (data.text?.length ?? 0) + (typeof data.html === 'string' ? data.html.length : 0);
      return;
    }
    if (data.type !== 'attachment') return;
    stats.attachments++;
    drains.push(
      new Promise<void>((resolve, reject) => {
        data.content.on('data', (c: Buffer) => (stats.attachmentBytes += c.length));
        data.content.on('end', () => {
          data.release();
          resolve();
        });
        data.content.on('error', reject);
      }),
    );
  });
  await pipeline(input, parser);
  await Promise.all(drains);
}

const t0 = performance.now();
const client = new ImapFlow({
  host: url.hostname,
  port: Number(url.port || (url.protocol === 'imaps:' ? 993 : 143)),
  secure: url.protocol === 'imaps:',
  auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) },
  logger: false,
  disableCompression: true,
} as ConstructorParameters<typeof ImapFlow>[0]);
await client.connect();
await client.mailboxOpen(mailbox, { readOnly: true });
const uids = ((await client.search({ all: true }, { uid: true })) || []).sort((a, b) => a - b);

for (let i = 0; i < uids.length; i += batchSize) {
  const batch = uids.slice(i, i + batchSize);
  if (mode === 'fetch') {
    const f0 = performance.now();
    const msgs = await client.fetchAll(batch.join(','), { uid: true, source: true }, { uid: true });
    stats.fetchMs += performance.now() - f0;
    const p0 = performance.now();
    for (const m of msgs) {
      if (!m.source) continue;
      stats.messages++;
      stats.bytes += m.source.length;
      await parse(Readable.from([m.source]));
    }
    stats.parseMs += performance.now() - p0;
  } else {
    // Serial: one download, streamed into the parser, per message (what src/adapters/imap.ts does).
    const f0 = performance.now();
    await client.fetchAll(batch.join(','), { uid: true, size: true }, { uid: true });
    stats.fetchMs += performance.now() - f0;
    for (const uid of batch) {
      const p0 = performance.now();
      const d = await client.download(String(uid), undefined, { uid: true, chunkSize });
      if (!d?.content) continue;
      let n = 0;
      d.content.on('data', (c: Buffer) => (n += c.length));
      await parse(d.content);
      stats.messages++;
      stats.bytes += n;
      stats.parseMs += performance.now() - p0; // download and parse overlap here: counted together
    }
  }
}
await client.logout();
const totalMs = performance.now() - t0;
process.stdout.write(JSON.stringify({ mode, batch: batchSize, chunk: mode === 'download' ? chunkSize : null, mailbox, uids: uids.length, ...stats, totalMs }) + '\n');
