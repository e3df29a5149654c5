// The composition root: the one place that builds adapters from the Config and wires the stages.
import path from 'node:path';
import type { Config } from './config.ts';
import { makeLogger, type Log } from './adapters/logger.ts';
import { migrateDb, openDb, type Db } from './db/client.ts';
import { makeRawStore, type RawStore } from './adapters/raw-store.ts';
import { makeDropFolder } from './adapters/maildir.ts';
import { makeImapInbox, type ImapSession } from './adapters/imap.ts';
import type { Clock, Inbox } from './domain.ts';
import { systemClock } from './domain.ts';
import type { IngestDeps } from './pipeline/ingest.ts';
import { makeMediaTool, type MediaTool } from './adapters/ffmpeg.ts';
import { makeFileMailer, makeSmtpMailer, type Mailer } from './adapters/smtp.ts';
import { mailDomain } from './db/outbox.ts';
import { abortableDelay, backoffMs } from './runtime/loop.ts';
import { errorMessage } from './errors.ts';

export interface App {
  config: Readonly<Config>;
  log: Log;
  db: Db;
  rawStore: RawStore;
  clock: Clock;
  deps: IngestDeps;
  /** ffprobe/ffmpeg (FFMPEG_PATH/FFPROBE_PATH, then PATH, then a bundled binary). */
  media: MediaTool;
  /** Outgoing mail: SMTP over SMTP_URL, else .eml files under <data>/sent. */
  mailer: Mailer;
  /** The configured inbox; `started`, an IMAP session begun ahead (startImapSession), is its first. */
  makeInbox(started?: ImapSession): Inbox;
  close(): Promise<void>;
}

export interface AppOptions {
  log?: Log;
  clock?: Clock;
  /** Tests pass a PGlite restored from a template. */
  pglite?: import('@electric-sql/pglite').PGlite;
  /** Tests: a mailer of their own. */
  mailer?: Mailer;
}

export async function makeApp(config: Readonly<Config>, opts: AppOptions = {}): Promise<App> {
  const log = opts.log ?? makeLogger(config.logLevel);
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log, pglite: opts.pglite });
  try {
    await migrateDb(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const rawStore = makeRawStore(config.dataDir);
  const clock = opts.clock ?? systemClock;
  const deps: IngestDeps = { db, rawStore, limits: config.campaign.limits, campaign: config.campaign, log, clock };
  const mailer =
    opts.mailer ??
    (config.smtpUrl
      ? makeSmtpMailer({
          url: config.smtpUrl,
          heloName: mailDomain(config.campaign.ackFrom),
          log,
          socketTimeoutSeconds: config.smtpSocketTimeoutSeconds,
        })
      : makeFileMailer(path.join(config.dataDir, 'sent')));
  return {
    config,
    log,
    db,
    rawStore,
    clock,
    deps,
    media: makeMediaTool({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath, log }),
    mailer,
    makeInbox(started) {
      if (config.imap) return makeImapInbox(deps, config.imap, {}, started);
      return makeDropFolder(deps, path.join(config.dataDir, 'inbox'), config.inboxPollSeconds);
    },
    close: async () => {
      await mailer.close();
      await db.close();
    },
  };
}

/** Network errors of a database server that is down or restarting (not bad credentials or a bad URL). */
function databaseUnreachable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN', '57P03'].includes(code))
      return true;
    if (/Connection terminated|timeout exceeded when trying to connect|is not queryable/i.test((e as Error).message ?? '')) return true;
  }
  return false;
}

/**
 * For the daemon: a PostgreSQL server that is down at start (both machines rebooting) is waited for, with the
 * loop's capped backoff, rather than ending the daemon. Resolves null if `signal` aborts first.
 */
export async function makeAppWhenReachable(config: Readonly<Config>, opts: AppOptions, signal: AbortSignal): Promise<App | null> {
  const log = opts.log ?? makeLogger(config.logLevel);
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await makeApp(config, { ...opts, log });
    } catch (err) {
      if (!config.databaseUrl || !databaseUnreachable(err)) throw err;
      const delay = backoffMs(attempt, 1000, 30_000);
      log.warn({ err: errorMessage(err), attempt, retryInMs: delay }, 'database unreachable; waiting for it');
      await abortableDelay(delay, signal);
    }
  }
  return null;
}
