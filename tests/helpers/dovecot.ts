/**
 * Test helpers for the real Dovecot IMAP server started by `ci/dovecot-start.sh`.
 *
 * Usage (shell, as root):
 *   ci/dovecot-start.sh > /tmp/dovecot.env && set -a && . /tmp/dovecot.env && set +a
 *   # -> DOVECOT_CONF, DOVECOT_DIR, TEST_IMAP_URL are now exported
 *
 * Usage (tests):
 *   import { dovecotConfigured, dovecotSaveMany, dovecotRecreateMailbox } from '../helpers/dovecot.ts';
 *   describe.skipIf(!dovecotConfigured())('ingest against Dovecot', () => { ... });
 *
 * All operations go through `doveadm -c $DOVECOT_CONF ... -u <user>` except
 * `dovecotSaveMany`, which delivers straight into the mailbox's Maildir (tmp/ -> new/,
 * the standard Maildir delivery protocol) and then lets Dovecot sync it: ~60x faster than
 * one `doveadm save` process per message (~50 msg/s). UIDs are assigned in array order.
 *
 * Requirements: doveadm must run as root (it switches to the mail uid 65534), so the
 * test process must be root, as it is in CI and in the dev containers.
 * No dependencies besides node:* built-ins.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

/** True when a Dovecot test server is configured (TEST_IMAP_URL is set). */
export function dovecotConfigured(): boolean {
  return Boolean(process.env.TEST_IMAP_URL);
}

/** Path of the generated dovecot.conf ($DOVECOT_CONF, else the start script's default). */
export function dovecotConfPath(): string {
  return (
    process.env.DOVECOT_CONF ||
    path.join(process.env.DOVECOT_DIR || '/tmp/intake-dovecot', 'dovecot.conf')
  );
}

/** IMAP user to act as: the user in TEST_IMAP_URL, else `intake`. */
export function dovecotUser(): string {
  const url = process.env.TEST_IMAP_URL;
  if (url) {
    try {
      const u = decodeURIComponent(new URL(url).username);
      if (u) return u;
    } catch {
      /* fall through */
    }
  }
  return 'intake';
}

export interface DoveadmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class DoveadmError extends Error {
  constructor(
    readonly args: string[],
    readonly result: DoveadmResult,
  ) {
    super(
      `doveadm ${args.join(' ')} exited with ${result.code}: ${
        result.stderr.trim() || result.stdout.trim() || '(no output)'
      }`,
    );
    this.name = 'DoveadmError';
  }
}

/** Run `doveadm -c <conf> <args>`; resolves with the result whatever the exit code. */
export function doveadmRaw(args: string[], stdin?: Buffer | string): Promise<DoveadmResult> {
  const fullArgs = ['-c', dovecotConfPath(), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('doveadm', fullArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        reject(new Error('doveadm not found: run ci/ensure-tools.sh / ci/dovecot-start.sh first'));
      } else reject(e);
    });
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    // EPIPE if doveadm dies before reading stdin: the exit code tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin ?? '');
  });
}

/** Run `doveadm -c <conf> <args>`; rejects with DoveadmError on a non-zero exit. */
export async function doveadm(args: string[], stdin?: Buffer | string): Promise<string> {
  const res = await doveadmRaw(args, stdin);
  if (res.code !== 0) throw new DoveadmError(args, res);
  return res.stdout;
}

const isInbox = (mailbox: string) => mailbox.toUpperCase() === 'INBOX';
const notFound = (r: DoveadmResult) => /doesn't exist/i.test(r.stderr);
const alreadyExists = (r: DoveadmResult) => /already exists/i.test(r.stderr);

/** Create a mailbox; no-op if it already exists. */
export async function dovecotCreateMailbox(mailbox: string): Promise<void> {
  if (isInbox(mailbox)) return;
  const args = ['mailbox', 'create', '-u', dovecotUser(), mailbox];
  const res = await doveadmRaw(args);
  if (res.code !== 0 && !alreadyExists(res)) throw new DoveadmError(args, res);
}

/** Delete a mailbox (not its children); no-op if it does not exist. INBOX cannot be deleted. */
export async function dovecotDeleteMailbox(mailbox: string): Promise<void> {
  if (isInbox(mailbox)) throw new Error('Dovecot cannot delete INBOX; use dovecotRecreateMailbox');
  const args = ['mailbox', 'delete', '-u', dovecotUser(), mailbox];
  const res = await doveadmRaw(args);
  if (res.code !== 0 && !notFound(res)) throw new DoveadmError(args, res);
}

export interface MailboxStatus {
  messages: number;
  uidvalidity: number;
  uidnext: number;
}

/** STATUS of a mailbox as Dovecot sees it (also forces a sync of the Maildir). */
export async function dovecotMailboxStatus(mailbox: string): Promise<MailboxStatus> {
  const out = await doveadm([
    '-f', 'flow', 'mailbox', 'status', '-u', dovecotUser(), 'messages uidvalidity uidnext', mailbox,
  ]);
  const num = (key: string) => {
    const m = new RegExp(`(?:^|\\s)${key}=(\\d+)`).exec(out);
    if (!m) throw new Error(`unexpected doveadm mailbox status output: ${out}`);
    return Number(m[1]);
  };
  return { messages: num('messages'), uidvalidity: num('uidvalidity'), uidnext: num('uidnext') };
}

/**
 * Seed one message through `doveadm save -u <user> -m <mailbox>` (raw RFC 822 on stdin).
 * The mailbox is created first if it does not exist.
 */
export async function dovecotSave(mailbox: string, raw: Buffer | string): Promise<void> {
  const args = ['save', '-u', dovecotUser(), '-m', mailbox];
  let res = await doveadmRaw(args, raw);
  if (res.code !== 0 && notFound(res)) {
    await dovecotCreateMailbox(mailbox);
    res = await doveadmRaw(args, raw);
  }
  if (res.code !== 0) throw new DoveadmError(args, res);
}

let deliveryCounter = 0;
const maildirHost = hostname().replace(/[/:.]/g, '_') || 'localhost';

/**
 * Seed many messages fast. Messages get consecutive UIDs in array order, and are all
 * visible to IMAP (UIDs assigned) when the promise resolves. Bytes are stored verbatim,
 * INTERNALDATE is the delivery time, no flags are set. The mailbox is created if needed.
 *
 * How: write each message to <maildir>/tmp/, chown it to the mail uid, rename into
 * <maildir>/new/ in array order, then `doveadm mailbox status` makes Dovecot sync the
 * Maildir. Dovecot orders new files by the `<secs>.M<usecs>` prefix of their names, which
 * is set to `<now>.M<counter>`, so the UID order is the array order even when an IDLE-ing
 * IMAP session syncs in the middle of the batch.
 * Falls back to one `doveadm save` per message (4 in parallel) if the mailbox is not a Maildir.
 */
export async function dovecotSaveMany(mailbox: string, raws: Array<Buffer | string>): Promise<void> {
  if (raws.length === 0) return;
  await dovecotCreateMailbox(mailbox);
  const dir = (await doveadm(['mailbox', 'path', '-u', dovecotUser(), mailbox])).trim();
  const st = await fs.stat(path.join(dir, 'new')).catch(() => null);
  if (!st?.isDirectory()) {
    // Not a Maildir (or not created yet): slow but format-agnostic.
    let next = 0;
    const worker = async () => {
      while (next < raws.length) {
        const i = next++;
        await dovecotSave(mailbox, raws[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, raws.length) }, worker));
    return;
  }

  const secs = Math.floor(Date.now() / 1000);
  const uniq = `P${process.pid}R${randomBytes(4).toString('hex')}`;
  const names = raws.map((raw) => {
    const n = deliveryCounter++;
    const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
    return `${secs}.M${n}${uniq}Q${n}.${maildirHost},S=${size}`;
  });

  // 1) write + chown into tmp/ with bounded concurrency
  let next = 0;
  const writer = async () => {
    while (next < raws.length) {
      const i = next++;
      const tmp = path.join(dir, 'tmp', names[i]);
      await fs.writeFile(tmp, raws[i], { mode: 0o600 });
      await fs.chown(tmp, st.uid, st.gid);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(32, raws.length) }, writer));
    // 2) publish in order
    for (const name of names) {
      await fs.rename(path.join(dir, 'tmp', name), path.join(dir, 'new', name));
    }
  } catch (e) {
    await Promise.all(names.map((n) => fs.rm(path.join(dir, 'tmp', n), { force: true })));
    throw e;
  }
  // 3) make Dovecot assign UIDs now
  await dovecotMailboxStatus(mailbox);
}

/** Expunge one message by UID (no error if the UID does not exist). */
export async function dovecotExpunge(mailbox: string, uid: number): Promise<void> {
  if (!Number.isInteger(uid) || uid <= 0) throw new Error(`invalid UID: ${uid}`);
  await doveadm(['expunge', '-u', dovecotUser(), 'mailbox', mailbox, 'uid', String(uid)]);
}

/** Expunge every message in the mailbox (UIDVALIDITY and UIDNEXT stay as they are). */
export async function dovecotEmptyMailbox(mailbox: string): Promise<void> {
  await doveadm(['expunge', '-u', dovecotUser(), 'mailbox', mailbox, 'all']);
}

/**
 * Delete and re-create a mailbox so that it is empty and its UIDVALIDITY changes.
 * Resolves with the new UIDVALIDITY (always greater than the old one).
 *
 * INBOX cannot be deleted in Dovecot, so for INBOX all messages are expunged and the
 * UIDVALIDITY is bumped with `doveadm mailbox update --uid-validity` (UIDNEXT is not reset
 * there, which IMAP allows once UIDVALIDITY has changed).
 */
export async function dovecotRecreateMailbox(mailbox: string): Promise<number> {
  const user = dovecotUser();
  if (isInbox(mailbox)) {
    await dovecotEmptyMailbox(mailbox);
    const before = await dovecotMailboxStatus(mailbox);
    const next = Math.max(before.uidvalidity + 1, Math.floor(Date.now() / 1000)) >>> 0;
    await doveadm(['mailbox', 'update', '-u', user, '--uid-validity', String(next), mailbox]);
    return (await dovecotMailboxStatus(mailbox)).uidvalidity;
  }
  let old: number | undefined;
  try {
    old = (await dovecotMailboxStatus(mailbox)).uidvalidity;
  } catch (e) {
    if (!(e instanceof DoveadmError && notFound(e.result))) throw e;
  }
  await dovecotDeleteMailbox(mailbox);
  await dovecotCreateMailbox(mailbox);
  const now = (await dovecotMailboxStatus(mailbox)).uidvalidity;
  if (old !== undefined && now === old) {
    throw new Error(`UIDVALIDITY of ${mailbox} did not change after delete+create (${now})`);
  }
  return now;
}
