// The IMAP inbox, through imapflow. What it promises:
// - Position: a checkpoint per (mailbox, UIDVALIDITY), advanced in the same transaction that stores the
//   message, so a crash refetches rather than loses. A new UIDVALIDITY starts again from UID 1 and the
//   (origin, sha256) identity makes old mail duplicates, not new messages.
// - Nothing in the mailbox is modified by default (EXAMINE, BODY.PEEK); IMAP_MOVE_TO moves mail already
//   committed, re-tried on every pass so a crash between commit and move only delays the move.
// - Size is checked before download; an oversized message keeps only its header block and is quarantined.
// - Small messages (up to 1 MiB) come in groups: one UID FETCH BODY.PEEK[] for up to 8 MiB of them, stored
//   with one transaction per group; larger ones one by one, streamed with download() (never held whole).
// - imapflow does not reconnect by itself: a closed client is replaced on the next pass, with the loop's
//   capped, jittered backoff between failures. IDLE with a poll timer as fallback and watchdog.
// Traps: never issue an IMAP command inside a fetch() iteration (imapflow deadlocks): collect, then act.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { ImapFlow, ImapFlowOptions } from 'imapflow';
import type { ImapConfig } from '../config.ts';
import type { Inbox, IngestCounts } from '../domain.ts';
import { emptyCounts } from '../domain.ts';
import { ingestMany, ingestMessage, type IngestDeps, type IngestOutcome } from '../pipeline/ingest.ts';
import { advanceCheckpoint, checkpointsOf } from '../db/checkpoints.ts';
import { abortableDelay, makeWakeup } from '../runtime/loop.ts';
import { IntakeError, errorMessage } from '../errors.ts';
import { failpoint } from '../runtime/failpoints.ts';

const BATCH = 200;
/** Messages up to this size are fetched in groups and held in memory; larger ones are streamed one by one. */
const GROUP_MESSAGE_BYTES = 1024 * 1024;
/** At most this many bytes, and GROUP_COUNT messages, per grouped fetch. */
const GROUP_BYTES = 8 * 1024 * 1024;
const GROUP_COUNT = 100;
/** The first group of a drain: see drain(). */
const FIRST_GROUP_COUNT = 10;
/** Messages up to this size need no size fetched before their download: SEARCH LARGER tells which are bigger. */
const SMALL_BYTES = 64 * 1024;
/** download() asks for a large message in pieces of this size (imapflow's default, 64 KiB, costs a round trip each). */
const DOWNLOAD_CHUNK = 1024 * 1024;

/** Test seams of our own: a point between SEARCH and FETCH, where other clients' expunges hurt most. */
export interface ImapHooks {
  afterSearch?: (uids: number[]) => Promise<void>;
}

let imapflowModule: Promise<typeof import('imapflow')> | null = null;

/**
 * imapflow, loaded on first use: commands that never read the mailbox do without its memory (~17 MB). Loading
 * it takes ~120 ms; `intake run` starts it early when a mailbox is configured, so that it happens while the
 * database connects and migrates rather than after.
 */
export function loadImapFlow(): Promise<typeof import('imapflow')> {
  imapflowModule ??= import('imapflow');
  imapflowModule.catch(() => {}); // a failure is reported by the connect that awaits it
  return imapflowModule;
}

/**
 * Response codes (RFC 5530, and THROTTLED as Gmail and Yahoo send it) that say "not now" rather than "not you":
 * a login refused with one of them is a busy or rate-limiting server, not a wrong password.
 */
const NOT_NOW = new Set(['THROTTLED', 'UNAVAILABLE', 'INUSE', 'LIMIT']);
/** How long a server that asked us to wait is left alone at least; the loop's backoff grows from there. */
const NOT_NOW_WAIT_MS = 60_000;

/** A failed connect as staff should read it, and how soon to try again. */
function connectError(err: unknown): IntakeError {
  const e = err as { authenticationFailed?: boolean; serverResponseCode?: string; message: string };
  const code = String(e.serverResponseCode ?? '').toUpperCase();
  if (NOT_NOW.has(code))
    return new IntakeError('IMAP', `IMAP: the server asks us to wait (${code}); trying again later`, {
      cause: err,
      retryable: true,
      retryAfterMs: NOT_NOW_WAIT_MS,
    });
  // A refused login: retrying fast only risks an account lockout.
  if (e.authenticationFailed)
    return new IntakeError('IMAP', 'IMAP_URL: the server refused the login', { cause: err, retryable: false, retryAfterMs: 15 * 60_000 });
  return new IntakeError('IMAP', `IMAP: ${e.message}`, { cause: err, retryable: true });
}

function imapOptions(cfg: ImapConfig, messageBytes: number): ImapFlowOptions {
  return {
    host: cfg.host,
    port: cfg.port,
    secure: cfg.secure,
    auth: cfg.accessToken ? { user: cfg.user, accessToken: cfg.accessToken } : { user: cfg.user, pass: cfg.password ?? '' },
    // TLS always verified; a private CA can be given, never `rejectUnauthorized: false`.
    tls: { rejectUnauthorized: true, ...(cfg.tlsCaFile ? { ca: fs.readFileSync(cfg.tlsCaFile) } : {}) },
    logger: false,
    // Mail appended right after a pass must wake us soon: start IDLE 1 s after the last command.
    autoIdleDelay: 1000,
    // IDLE silently stops on some servers: restart it regularly, and fall back to NOOP where missing.
    maxIdleTime: cfg.idleRestartSeconds * 1000,
    missingIdleCommand: 'NOOP',
    // A server that stops answering (a dead NAT entry, a slow-loris peer) is given up after socketTimeout;
    // the greeting and the whole connect get no longer than that either.
    socketTimeout: cfg.socketTimeoutSeconds * 1000,
    greetingTimeout: Math.min(30_000, cfg.socketTimeoutSeconds * 1000),
    connectionTimeout: Math.min(60_000, cfg.socketTimeoutSeconds * 2000),
    // Nothing larger than a message we would accept is ever buffered.
    maxLiteralSize: messageBytes + 1024 * 1024,
    disableCompression: true,
  } as ImapFlowOptions;
}

/**
 * A logged-in session with the mailbox open: EXAMINE (read-only) unless processed mail is to be moved. A mailbox
 * that cannot be opened (missing, no rights) closes the connection: each retry would otherwise leave one more
 * logged in. Until the inbox takes the client, its errors are only kept from ending the process.
 */
async function openSession(cfg: ImapConfig, messageBytes: number): Promise<ImapFlow> {
  const { ImapFlow } = await loadImapFlow();
  const c = new ImapFlow(imapOptions(cfg, messageBytes));
  c.on('error', () => {});
  try {
    await c.connect();
  } catch (err) {
    c.close();
    throw connectError(err);
  }
  try {
    await c.mailboxOpen(cfg.mailbox, { readOnly: !cfg.moveTo });
  } catch (err) {
    c.close();
    throw err;
  }
  return c;
}

/** A session being opened ahead of the inbox that will use it (makeImapInbox's `started`). */
export interface ImapSession {
  /** The session, or the error opening it gave; once. */
  take(): Promise<ImapFlow>;
  /** Logs out of the session if no inbox took it. */
  close(): Promise<void>;
}

/**
 * Starts logging in now, for an inbox made later: `run --once` opens the session while the database connects and
 * migrates (~60 ms of login and EXAMINE that came after them). Its outcome, a refused login too, is what the
 * inbox's first connect gets, so a failure is reported once and never tried twice in a row.
 */
export function startImapSession(cfg: ImapConfig, messageBytes: number): ImapSession {
  const session = openSession(cfg, messageBytes);
  session.catch(() => {}); // reported by the connect that takes it
  let taken = false;
  return {
    take() {
      taken = true;
      return session;
    },
    async close() {
      if (taken) return;
      taken = true;
      const c = await session.catch(() => null);
      if (!c) return;
      await Promise.race([c.logout().catch(() => c.close()), abortableDelay(5000)]);
      c.close();
    },
  };
}

export function makeImapInbox(deps: IngestDeps, cfg: ImapConfig, hooks: ImapHooks = {}, started?: ImapSession): Inbox {
  const { log } = deps;
  const origin = `imap:${cfg.user}@${cfg.host}/${cfg.mailbox}`;
  let client: ImapFlow | null = null;
  let early: ImapSession | undefined = started;
  const newMail = makeWakeup();
  let closed = false;

  async function connect(): Promise<ImapFlow> {
    if (client?.usable) return client;
    if (client) {
      client.removeAllListeners();
      client.close();
      client = null;
    }
    // The session started while the database was being readied (see startImapSession), taken once.
    const ready = early;
    early = undefined;
    const c = ready ? await ready.take() : await openSession(cfg, deps.limits.messageBytes);
    if (!c.usable) {
      c.close();
      return connect();
    }
    c.on('error', (err: Error) => log.warn({ err: err.message }, 'imap connection error'));
    c.on('close', () => {
      if (client === c) client = null;
      newMail.wake();
    });
    c.on('exists', () => newMail.wake());
    client = c;
    log.info({ mailbox: cfg.mailbox }, 'imap connected');
    return c;
  }

  async function drain(signal: AbortSignal): Promise<IngestCounts> {
    const counts = emptyCounts();
    newMail.clear();
    const c = await connect();
    const box = c.mailbox;
    if (!box || typeof box === 'boolean') throw new IntakeError('IMAP', `IMAP: mailbox ${cfg.mailbox} is not open`);
    const uidValidity = Number(box.uidValidity);
    const known = await checkpointsOf(deps.db.orm, cfg.mailbox);
    const mine = known.find((k) => k.uidValidity === uidValidity);
    if (!mine && known.length)
      log.warn({ mailbox: cfg.mailbox, uidValidity }, 'UIDVALIDITY changed: resynchronising (old mail is recognised by content)');
    let last = mine?.lastUid ?? 0;
    const firstLast = last;

    if (cfg.moveTo && last > 0) await moveCommitted(c, last);

    while (!signal.aborted) {
      if (!box.exists) break;
      // UID SEARCH for n:* always returns the highest UID even when it is below n: filter.
      const uids = ((await c.search({ uid: `${last + 1}:*` }, { uid: true })) || []).filter((u) => u > last).sort((a, b) => a - b);
      if (!uids.length) break;
      const batch = uids.slice(0, BATCH);
      await hooks.afterSearch?.(batch);
      // Sizes are fetched only for the messages SEARCH LARGER names: the rest are known to be small, and a FETCH
      // of every size cost as much of imapflow's response parsing as the messages themselves.
      const small = Math.min(SMALL_BYTES, deps.limits.messageBytes);
      const larger = await c.search({ uid: `${batch[0]}:${batch[batch.length - 1]}`, larger: small }, { uid: true });
      const inBatch = new Set(batch);
      const sized = new Set((larger || []).filter((u) => inBatch.has(u)));
      const sizes = new Map<number, number>();
      if (sized.size)
        for (const m of await c.fetchAll([...sized].join(','), { uid: true, size: true }, { uid: true })) sizes.set(m.uid, m.size ?? 0);
      const tally = (outs: IngestOutcome[]) => {
        for (const out of outs) {
          if (out.status === 'duplicate') counts.duplicates++;
          else if (out.quarantined) counts.quarantined++;
          else counts.stored++;
        }
      };
      // In UID order: runs of small messages become one group; a large one is taken on its own. The checkpoint
      // passes a group only with its commit, so it never runs ahead of a stored message.
      // The batch as steps: groups of small messages, and large ones alone, in UID order.
      const groupLimit = Math.min(GROUP_MESSAGE_BYTES, deps.limits.messageBytes);
      const steps: Array<{ group: number[] } | { uid: number; size: number }> = [];
      let group: number[] = [];
      let groupBytes = 0;
      const close = () => {
        if (group.length) steps.push({ group });
        group = [];
        groupBytes = 0;
      };
      for (const uid of batch) {
        // A message SEARCH LARGER did not name is at most `small` bytes (counted so in the group's bytes).
        const size = sizes.get(uid) ?? (sized.has(uid) ? undefined : small);
        if (size !== undefined && size > groupLimit) {
          close();
          steps.push({ uid, size });
          continue;
        }
        // The drain's first group is small: the stages after store (the parser first) start on it while the
        // next, full-sized one is fetched, instead of waiting for a whole group to arrive and be made durable.
        const count = steps.length || last > firstLast ? GROUP_COUNT : FIRST_GROUP_COUNT;
        if (group.length && (groupBytes + (size ?? 0) > GROUP_BYTES || group.length >= count)) close();
        group.push(uid);
        groupBytes += size ?? 0;
      }
      close();
      // A group's FETCH is sent while the group before it is written and committed: the server and the
      // network work while we do. Stores stay in order, so the checkpoint only ever moves forward.
      let prefetch: Promise<Map<number, Buffer>> | null = null;
      try {
        for (const [i, step] of steps.entries()) {
          if (signal.aborted) break;
          if ('group' in step) {
            const fetched = await (prefetch ?? fetchGroup(c, step.group));
            const next = steps[i + 1];
            prefetch = next && 'group' in next ? fetchGroup(c, next.group) : null;
            tally(await storeGroup(uidValidity, step.group, fetched, sizes));
            last = step.group[step.group.length - 1];
          } else {
            tally(await storeOne(c, uidValidity, step.uid, step.size));
            last = step.uid;
          }
        }
      } finally {
        prefetch?.catch(() => {}); // abandoned on abort or error: its failure is not ours to report
      }
      if (cfg.moveTo) await moveCommitted(c, last);
    }
    return counts;
  }

  const sourceOf = (uidValidity: number, uid: number) => `imap:${cfg.mailbox}/${uidValidity}/${uid}`;

  /** Small messages in one FETCH, collected first: no IMAP command may run inside a fetch loop. */
  async function fetchGroup(c: ImapFlow, uids: number[]): Promise<Map<number, Buffer>> {
    const fetched = new Map<number, Buffer>();
    for (const m of await c.fetchAll(uids.join(','), { uid: true, source: true }, { uid: true }))
      if (m.source) fetched.set(m.uid, m.source);
    return fetched;
  }

  /** A fetched group: every raw file durable, then one commit with the checkpoint past the group. */
  async function storeGroup(uidValidity: number, uids: number[], fetched: Map<number, Buffer>, sizes: Map<number, number>): Promise<IngestOutcome[]> {
    const list: Array<{ incoming: { source: string; origin: string; announcedSize?: number }; bytes: Buffer }> = [];
    for (const uid of uids) {
      const bytes = fetched.get(uid);
      if (!bytes) {
        // Expunged by another client between SEARCH and FETCH: nothing to store, the checkpoint moves past it.
        log.info({ uid }, 'message vanished before fetch; skipped');
        continue;
      }
      failpoint('imap.after-fetch');
      list.push({ incoming: { source: sourceOf(uidValidity, uid), origin, announcedSize: sizes.get(uid) }, bytes });
    }
    const top = uids[uids.length - 1];
    if (!list.length) {
      await advanceCheckpoint(deps.db.orm, cfg.mailbox, uidValidity, top);
      return [];
    }
    return ingestMany(deps, list, (tx) => advanceCheckpoint(tx, cfg.mailbox, uidValidity, top));
  }

  /** One large (or oversized) message, streamed to its raw file. */
  async function storeOne(c: ImapFlow, uidValidity: number, uid: number, size: number): Promise<IngestOutcome[]> {
    const body = await fetchBody(c, uid, size);
    if (!body) {
      await advanceCheckpoint(deps.db.orm, cfg.mailbox, uidValidity, uid);
      log.info({ uid }, 'message vanished during fetch; skipped');
      return [];
    }
    failpoint('imap.after-fetch');
    const advance = (tx: Parameters<typeof advanceCheckpoint>[0]) => advanceCheckpoint(tx, cfg.mailbox, uidValidity, uid);
    return [await ingestMessage(deps, { source: sourceOf(uidValidity, uid), origin, announcedSize: size }, body, advance)];
  }

  /** The whole message as a stream, or only its header block when over the size budget; null if gone. */
  async function fetchBody(c: ImapFlow, uid: number, size: number): Promise<Readable | null> {
    if (size > deps.limits.messageBytes) {
      const m = await c.fetchOne(String(uid), { uid: true, headers: true }, { uid: true });
      if (!m || !m.headers) return null;
      return Readable.from([m.headers]);
    }
    try {
      const d = await c.download(String(uid), undefined, { uid: true, chunkSize: DOWNLOAD_CHUNK });
      if (!d?.content) return null;
      return d.content;
    } catch (err) {
      if (/no such message|not found|expunged/i.test(errorMessage(err))) return null;
      throw err;
    }
  }

  async function moveCommitted(c: ImapFlow, upTo: number) {
    // Without MOVE or UIDPLUS a move ends in a plain EXPUNGE, which would also remove mail that other
    // clients (staff) marked \Deleted: then we leave the mail where it is.
    if (!c.capabilities.has('MOVE') && !c.capabilities.has('UIDPLUS')) {
      log.warn({ folder: cfg.moveTo }, 'server has neither MOVE nor UIDPLUS: processed mail is not moved');
      return;
    }
    try {
      const left = ((await c.search({ uid: `1:${upTo}` }, { uid: true })) || []).filter((u) => u <= upTo);
      if (left.length) await c.messageMove(left.join(','), cfg.moveTo!, { uid: true });
    } catch (err) {
      // Quota, a missing folder, no MOVE: the mail stays where it is and we try again next pass.
      log.warn({ err: errorMessage(err), folder: cfg.moveTo }, 'could not move processed mail');
    }
  }

  return {
    kind: 'imap',
    drain,
    async waitForMail(signal) {
      if (closed) return;
      // Woken by EXISTS (IDLE runs on its own after autoIdleDelay), by the connection closing, or by the
      // poll timer: a silently dead IDLE costs at most one poll interval.
      await newMail.wait(cfg.pollSeconds * 1000, signal);
    },
    async close() {
      closed = true;
      await early?.close();
      early = undefined;
      const c = client;
      client = null;
      if (c) {
        c.removeAllListeners();
        c.on('error', () => {});
        await Promise.race([c.logout().catch(() => c.close()), abortableDelay(5000)]);
        c.close();
      }
    },
    async check() {
      const c = await connect();
      const box = c.mailbox && typeof c.mailbox !== 'boolean' ? c.mailbox : null;
      return `IMAP ${cfg.host}:${cfg.port} ${cfg.mailbox}: ${box?.exists ?? 0} messages, UIDVALIDITY ${box?.uidValidity}`;
    },
  };
}
