// `intake doctor`: every check says what it found and, when something is wrong, what to do about it.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../config.ts';
import { makeApp } from '../app.ts';
import { silentLogger } from '../adapters/logger.ts';
import { errorMessage } from '../errors.ts';
import { countByStatus } from '../db/messages.ts';
import { outgoingMailChecks } from './outbox-commands.ts';
import { checkInvariants } from '../db/invariants.ts';
import { makeMediaTool } from '../adapters/ffmpeg.ts';

interface Check {
  name: string;
  ok: boolean;
  /** Works, but something should be fixed (the bundled ffmpeg). */
  warn?: boolean;
  detail: string;
  fix?: string;
}

async function ffmpegCheck(config: Config): Promise<Check> {
  const media = makeMediaTool({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath });
  try {
    const v = await media.version();
    const from = { env: 'FFMPEG_PATH/FFPROBE_PATH', path: 'PATH', bundled: 'the npm package bundled with intake' }[v.source];
    const detail = `ffmpeg ${v.ffmpeg} (${v.ffmpegPath}), ffprobe ${v.ffprobe} (${v.ffprobePath}), from ${from}`;
    if (v.source !== 'bundled') return { name: 'ffmpeg', ok: true, detail };
    return {
      name: 'ffmpeg',
      ok: true,
      warn: true,
      detail,
      fix: 'the bundled ffmpeg is an old build without security fixes: install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH and FFPROBE_PATH',
    };
  } catch (err) {
    return {
      name: 'ffmpeg',
      ok: false,
      detail: `ffmpeg/ffprobe could not be run: ${errorMessage(err)}`,
      fix: 'install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH and FFPROBE_PATH',
    };
  }
}

function diskCheck(dir: string): Check {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const st = fs.statfsSync(dir);
    const freeGb = (st.bavail * st.bsize) / 1024 ** 3;
    const ok = freeGb >= 2;
    return {
      name: 'disk',
      ok,
      detail: `${freeGb.toFixed(1)} GB free under ${dir}`,
      fix: ok ? undefined : 'free some space: videos and raw mail need room (2 GB at least)',
    };
  } catch (err) {
    return { name: 'disk', ok: false, detail: errorMessage(err), fix: 'check INTAKE_DATA_DIR' };
  }
}

export async function runDoctor(o: { json: boolean; print: (s: string) => void }): Promise<boolean> {
  const checks: Check[] = [];
  let config: Readonly<Config> | null = null;
  try {
    config = loadConfig();
    checks.push({ name: 'configuration', ok: true, detail: `campaign "${config.campaign.name}" from ${config.campaignPath}` });
  } catch (err) {
    checks.push({ name: 'configuration', ok: false, detail: errorMessage(err), fix: 'correct the setting named above' });
  }
  if (config) {
    try {
      const app = await makeApp(config, { log: silentLogger });
      try {
        const counts = await countByStatus(app.db.orm);
        checks.push({
          name: 'database',
          ok: true,
          detail: `${app.db.kind === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${path.join(config.dataDir, 'db')}${app.db.kind === 'pglite-client' ? ', served by the running daemon' : ''}`}; migrations applied; messages: ${JSON.stringify(counts)}`,
        });
        const inbox = app.makeInbox();
        try {
          checks.push({ name: 'inbox', ok: true, detail: await inbox.check() });
        } catch (err) {
          checks.push({
            name: 'inbox',
            ok: false,
            detail: errorMessage(err),
            fix: config.imap ? 'check IMAP_URL (host, port, user, password) and that the server is reachable' : 'check INTAKE_DATA_DIR',
          });
        } finally {
          await inbox.close();
        }
        checks.push(...(await outgoingMailChecks(app)));
      } finally {
        await app.close();
      }
    } catch (err) {
      checks.push({
        name: 'database',
        ok: false,
        detail: errorMessage(err),
        fix: config.databaseUrl ? 'check DATABASE_URL and that PostgreSQL is running' : `check ${config.dataDir}/db`,
      });
    }
    checks.push(await ffmpegCheck(config));
    checks.push(diskCheck(config.dataDir));
  }
  const ok = checks.every((c) => c.ok);
  if (o.json) o.print(JSON.stringify({ ok, checks }, null, 2));
  else
    o.print(
      checks
        .map((c) => `${c.ok ? (c.warn ? 'warn' : 'ok  ') : 'FAIL'}  ${c.name}: ${c.detail}${c.fix ? `\n      -> ${c.fix}` : ''}`)
        .join('\n'),
    );
  return ok;
}

/**
 * `intake doctor --invariants`: rows and files agree, nothing acknowledged twice, IMAP positions consistent.
 * Safe while the daemon runs: files younger than `graceSeconds` without their row count as writes in progress.
 */
export async function runInvariantsCheck(o: {
  json: boolean;
  deep: boolean;
  graceSeconds: number;
  print: (s: string) => void;
}): Promise<boolean> {
  const config = loadConfig();
  const app = await makeApp(config, { log: silentLogger });
  try {
    const r = await checkInvariants(app.db.orm, config.dataDir, { deep: o.deep, graceMs: o.graceSeconds * 1000 });
    if (o.json) o.print(JSON.stringify(r, null, 2));
    else {
      const c = r.checked;
      const lines = [
        `${r.ok ? 'ok  ' : 'FAIL'}  invariants${o.deep ? ' (deep: sha256 of every raw file)' : ''}: ${c.messages} messages, ` +
          `${c.rawFiles} raw files, ${c.attachments} attachments, ${c.mediaJobs} media jobs, ${c.acks} acknowledged messages, ` +
          `${c.checkpoints} checkpoints; ${r.problems.length} problems` +
          (r.inFlight ? `; ${r.inFlight} files younger than ${o.graceSeconds} s taken as writes in progress` : ''),
        ...r.problems.map((p) => `FAIL  ${p.check}: ${p.detail}`),
      ];
      o.print(lines.join('\n'));
    }
    return r.ok;
  } finally {
    await app.close();
  }
}
