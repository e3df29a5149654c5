// The drop folder inbox: a Maildir under the data directory. Files dropped into new/ are stored, then moved to
// cur/ (the Maildir way of saying "seen"); a crash between the two only costs a duplicate check on restart.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Inbox, IngestCounts } from '../domain.ts';
import { emptyCounts } from '../domain.ts';
import { ingestMessage, type IngestDeps } from '../pipeline/ingest.ts';
import { makeWakeup } from '../runtime/loop.ts';
import { errorMessage } from '../errors.ts';

const SETTLE_MS = 1000;

export function makeDropFolder(deps: IngestDeps, dir: string, pollSeconds: number): Inbox {
  for (const sub of ['new', 'cur', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o700 });
  const newDir = path.join(dir, 'new');
  let watcher: fs.FSWatcher | null = null;
  const dropped = makeWakeup();
  try {
    // A watch makes a drop show up at once; the poll below covers file systems where watching fails.
    watcher = fs.watch(newDir, () => dropped.wake());
    watcher.on('error', () => {});
  } catch {
    watcher = null;
  }

  return {
    kind: 'maildir',
    async drain(signal) {
      const counts: IngestCounts = emptyCounts();
      dropped.clear();
      const names = (await fsp.readdir(newDir)).filter((n) => !n.startsWith('.')).sort();
      for (const name of names) {
        if (signal.aborted) break;
        const file = path.join(newDir, name);
        let st: fs.Stats;
        try {
          st = await fsp.stat(file);
        } catch {
          continue; // taken by someone else meanwhile
        }
        if (!st.isFile()) continue;
        // A file copied straight into new/ (not written in tmp/ and renamed, as Maildir asks) may still be
        // growing: leave it until it has been still for a moment.
        if (Date.now() - st.mtimeMs < SETTLE_MS) {
          setTimeout(() => dropped.wake(), SETTLE_MS).unref();
          continue;
        }
        try {
          const out = await ingestMessage(deps, { source: file, origin: file }, fs.createReadStream(file));
          if (out.status === 'duplicate') counts.duplicates++;
          else if (out.quarantined) counts.quarantined++;
          else counts.stored++;
          const curName = name.includes(':2,') ? name : `${name}:2,S`;
          await fsp.rename(file, path.join(dir, 'cur', curName)).catch(() => {});
        } catch (err) {
          counts.failed++;
          deps.log.error({ file: name, err: errorMessage(err) }, 'could not store a dropped message');
        }
      }
      return counts;
    },
    async waitForMail(signal) {
      await dropped.wait(pollSeconds * 1000, signal);
    },
    async close() {
      watcher?.close();
    },
    async check() {
      await fsp.access(newDir, fs.constants.W_OK);
      return `drop folder ${dir} (Maildir): writable`;
    },
  };
}
