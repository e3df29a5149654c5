// `intake outbox` and `intake outbox retry <id>`: outgoing mail and its state, and the staff's one lever on it.
// Registered on the program by cli.ts.
import type { Command } from 'commander';
import type { App } from '../app.ts';
import { IntakeError, errorMessage } from '../errors.ts';
import { listOutbox, outboxCounts, requeue } from '../db/outbox.ts';
import { readSmtpStatus } from '../adapters/smtp.ts';
import type { OutboxState } from '../db/schema.ts';
import { outboxJson, renderOutbox } from './render.ts';

type WithApp = <T>(fn: (app: App) => Promise<T>) => Promise<T>;
type Out = (text: string) => void;

export function addOutboxCommands(program: Command, withApp: WithApp, out: Out, positiveInt: (v: string, what: string) => number) {
  const outbox = program
    .command('outbox')
    .description('outgoing mail with its state (queued, sending, sent, failed, uncertain, suppressed) and attempts')
    .option('--json', 'print one JSON document')
    .option('--limit <n>', 'the newest n rows', '200')
    .action(async (opts: { json?: boolean; limit: string }) => {
      await withApp(async (app) => {
        const rows = await listOutbox(app.db.orm, positiveInt(opts.limit, '--limit'));
        out(opts.json ? JSON.stringify(rows.map(outboxJson), null, 2) : renderOutbox(rows));
      });
    });

  outbox
    .command('retry')
    .description('send a failed row again (an uncertain one only with --force: it may already have been delivered)')
    .argument('<id>', 'outbox row id')
    .option('--force', 'also retry an uncertain row, accepting that the recipient may get it twice')
    .action(async (id: string, opts: { force?: boolean }) => {
      const n = positiveInt(id, 'id');
      await withApp(async (app) => {
        const allowed: OutboxState[] = opts.force ? ['failed', 'uncertain'] : ['failed'];
        const r = await requeue(app.db.orm, n, allowed, app.clock.now());
        if (!r.found) throw new IntakeError('NOT_FOUND', `outbox row ${n} does not exist`);
        if (!r.requeued) {
          const hint =
            r.state === 'uncertain'
              ? ': it may already have been delivered; check with the recipient, then use --force to send it again'
              : ' (only failed rows are retried)';
          throw new IntakeError('INVALID', `outbox row ${n} is ${r.state}${hint}`);
        }
        out(`outbox row ${n} queued again; the daemon sends it (or \`intake run --once\`)`);
      });
    });
}

export interface MailCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** For `intake doctor`: can we send (connect and log in), is sending paused, does any row need a person. */
export async function outgoingMailChecks(app: App): Promise<MailCheck[]> {
  const checks: MailCheck[] = [];
  const status = readSmtpStatus(app.config.dataDir);
  let reachable: string | null = null;
  let problem: { message: string; auth: boolean } | null = null;
  try {
    reachable = await within(app.mailer.verify(), 20_000, 'SMTP');
  } catch (err) {
    const e = err as { code?: string; responseCode?: number };
    problem = { message: errorMessage(err), auth: e.code === 'EAUTH' || e.responseCode === 535 };
  }
  const paused = status?.state === 'paused';
  if (problem) {
    checks.push({
      name: 'outgoing mail',
      ok: false,
      detail: `${problem.message}${paused ? `; sending paused since ${status.at} (the daemon tries again at ${status.until})` : ''}`,
      fix: problem.auth ? 'check the user and password in SMTP_URL (URL-encoded)' : 'check SMTP_URL (host, port) and that the server is reachable',
    });
  } else {
    checks.push({
      name: 'outgoing mail',
      ok: true,
      detail: `${reachable}${paused ? `; sending was paused at ${status.at} after a refused login (${status.error}); it resumes by ${status.until}` : ''}`,
    });
  }
  const counts = await outboxCounts(app.db.orm);
  const uncertain = counts.uncertain ?? 0;
  // Uncertain rows need a person's look but are not a fault of the setup: noted, not failed (doctor would
  // otherwise fail for good, since a row that may have been delivered is never cleared automatically).
  checks.push({
    name: 'outbox',
    ok: true,
    detail: Object.keys(counts).length ? JSON.stringify(counts) : 'empty',
    fix: uncertain
      ? `${uncertain} mail(s) may or may not have been delivered (interrupted mid-send): see \`intake outbox\`; \`intake outbox retry <id> --force\` sends one again`
      : undefined,
  });
  return checks;
}
