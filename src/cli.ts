// argv -> commands. No logic of its own: every command is a call into app/pipeline/db.
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from './config.ts';
import { makeApp, makeAppWhenReachable, type App } from './app.ts';
import { exitCodeOf, errorMessage, IntakeError } from './errors.ts';
import { makeLogger } from './adapters/logger.ts';
import { loadImapFlow, startImapSession } from './adapters/imap.ts';
import { runDaemon, runOnce } from './pipeline/daemon.ts';
import { warmParseWorker } from './adapters/mime-pool.ts';
import { importPaths } from './pipeline/import.ts';
import { listMessages } from './db/messages.ts';
import os from 'node:os';
import { renderMessages, messageJson, itemJson, renderItems, eventJson, renderHistory, videoJson } from './cli/render.ts';
import { jobsOfItems } from './db/media.ts';
import { itemHistory, itemsOfMessages, listItems } from './db/items.ts';
import { assignStory, review } from './pipeline/review.ts';
import type { ItemStatus } from './db/schema.ts';
import { runDoctor, runInvariantsCheck } from './cli/doctor.ts';
import { onShutdown } from './runtime/shutdown.ts';
import { addDigestCommands } from './cli/digest-commands.ts';
import { addOutboxCommands } from './cli/outbox-commands.ts';
import { ackStates } from './db/outbox.ts';
import { compileCacheReady } from './runtime/loader.ts';

async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const app = await makeApp(config, { log: makeLogger(config.logLevel) });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

function out(text: string) {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

function positiveInt(v: string, what: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new IntakeError('USAGE', `${what}: expected a positive number, got "${v}"`);
  return Number(v);
}

export function buildCli(): Command {
  const program = new Command('intake')
    .description('campaign-intake: turns the coalition inbox into stories, videos, acknowledgements and digests')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('run')
    .description('run the daemon: watch the inbox, store and process every message; stops on SIGINT/SIGTERM')
    .option('--once', 'take every message now in the inbox, process it, then exit')
    .action(async (opts: { once?: boolean }) => {
      const config = loadConfig();
      const log = makeLogger(config.logLevel);
      if (config.imap) void loadImapFlow(); // loads while the database connects and migrates
      warmParseWorker(); // the parser, too: its thread loads mailparser meanwhile
      // A single pass logs in to the mailbox meanwhile too (the daemon does when it holds the inbox: leader.ts).
      const started = opts.once && config.imap ? startImapSession(config.imap, config.campaign.limits.messageBytes) : undefined;
      const ac = new AbortController();
      const off = onShutdown(log, () => ac.abort());
      try {
        // PostgreSQL down at start is waited for (see makeAppWhenReachable); SIGTERM meanwhile just ends.
        const app = await makeAppWhenReachable(config, { log }, ac.signal);
        if (!app) return;
        try {
          if (opts.once) {
            const r = await runOnce(app, ac.signal, started);
            app.log.info({ ...r.inbox, ...r.parse, media: r.media }, 'pass complete');
            compileCacheReady(r.parse.parsed + r.parse.quarantined);
          } else {
            await runDaemon(app, ac.signal);
          }
        } finally {
          await app.close();
        }
      } finally {
        await started?.close(); // when no inbox took it (the database never became ready)
        off();
      }
    });

  program
    .command('import')
    .description('take .eml files, folders, Maildir folders and mbox files into the pipeline')
    .argument('<path...>', 'files or folders')
    .action(async (paths: string[]) => {
      await withApp(async (app) => {
        const s = await importPaths(app, paths, { progress: Boolean(process.stderr.isTTY) });
        compileCacheReady(s.total);
        out(
          `imported ${s.total}: stored ${s.stored}, duplicates ${s.duplicates}, quarantined ${s.quarantined}` +
            (s.failed ? `, failed ${s.failed}` : ''),
        );
        if (s.failed) process.exitCode = 1;
      });
    });

  program
    .command('messages')
    .description('list stored messages')
    .option('--json', 'print one JSON document')
    .action(async (opts: { json?: boolean }) => {
      await withApp(async (app) => {
        const rows = await listMessages(app.db.orm);
        const its = await itemsOfMessages(app.db.orm, rows.map((r) => r.id));
        const byMessage = (id: number) => its.filter((i) => i.messageId === id);
        const acks = await ackStates(app.db.orm, rows.map((r) => r.id));
        if (opts.json) out(JSON.stringify(rows.map((m) => messageJson(m, byMessage(m.id), acks.get(m.id) ?? null)), null, 2));
        else out(renderMessages(rows, acks));
      });
    });

  program
    .command('items')
    .description('list the submissions: messages, videos and video links, with their story and review status')
    .option('--story <n>', 'only this story (a number, or "none" for the triage queue)')
    .addOption(new Option('--status <status>', 'only this review status').choices(['pending', 'approved', 'rejected']))
    .option('--json', 'print one JSON document')
    .action(async (opts: { story?: string; status?: ItemStatus; json?: boolean }) => {
      const story = opts.story === undefined ? undefined : opts.story === 'none' ? null : positiveInt(opts.story, '--story');
      await withApp(async (app) => {
        const rows = await listItems(app.db.orm, { story, status: opts.status });
        const videos = await jobsOfItems(app.db.orm, rows.filter((r) => r.kind === 'video').map((r) => r.id));
        const videoOf = (id: number) => {
          const j = videos.get(id);
          return j ? videoJson(j, app.config.dataDir) : null;
        };
        out(opts.json ? JSON.stringify(rows.map((r) => itemJson(r, videoOf(r.id))), null, 2) : renderItems(rows, videos));
      });
    });

  program
    .command('assign')
    .description('link items to a story (staff decision; recorded)')
    .argument('<item>', 'item id')
    .argument('<story>', 'story number')
    .option('--by <name>', 'who decides (recorded)', os.userInfo().username)
    .action(async (item: string, story: string, opts: { by: string }) => {
      await withApp(async (app) => {
        await assignStory(app.db, app.config.campaign, [positiveInt(item, 'item')], positiveInt(story, 'story'), opts.by);
        out(`item ${item} linked to story ${story}`);
      });
    });

  program
    .command('approve')
    .description('approve items for the families and the website (recorded)')
    .argument('<item...>', 'item ids')
    .option('--by <name>', 'who decides (recorded)', os.userInfo().username)
    .action(async (ids: string[], opts: { by: string }) => {
      await withApp(async (app) => {
        await review(app.db, ids.map((i) => positiveInt(i, 'item')), 'approve', opts.by);
        out(`approved ${ids.join(', ')}`);
      });
    });

  program
    .command('reject')
    .description('reject items (recorded, with the reason)')
    .argument('<item...>', 'item ids')
    .requiredOption('--reason <reason>', 'why (recorded, shown to staff)')
    .option('--by <name>', 'who decides (recorded)', os.userInfo().username)
    .action(async (ids: string[], opts: { by: string; reason: string }) => {
      await withApp(async (app) => {
        await review(app.db, ids.map((i) => positiveInt(i, 'item')), 'reject', opts.by, opts.reason);
        out(`rejected ${ids.join(', ')}`);
      });
    });

  program
    .command('history')
    .description("an item's recorded changes: who, when, from what, to what")
    .argument('<item>', 'item id')
    .option('--json', 'print one JSON document')
    .action(async (item: string, opts: { json?: boolean }) => {
      const id = positiveInt(item, 'item');
      await withApp(async (app) => {
        const rows = await itemHistory(app.db.orm, id);
        out(opts.json ? JSON.stringify(rows.map(eventJson), null, 2) : renderHistory(id, rows));
      });
    });

  addDigestCommands(program, withApp, out, positiveInt);
  addOutboxCommands(program, withApp, out, positiveInt);

  const db = program.command('db').description('database maintenance');
  db.command('migrate')
    .description('apply migrations (the daemon also does this on start)')
    .action(async () => {
      await withApp(async () => out('migrations applied'));
    });

  program
    .command('doctor')
    .description('check configuration, database, inbox, outgoing mail, ffmpeg and disk space; say what to fix')
    .addOption(new Option('--json', 'print one JSON document'))
    .option('--invariants', 'check instead that rows and files agree, nothing was acknowledged twice, IMAP positions hold')
    .option('--deep', 'with --invariants: also compare the sha256 of every raw file with its row')
    .option('--grace <seconds>', 'with --invariants: files younger than this without a row are writes in progress', '600')
    .action(async (opts: { json?: boolean; invariants?: boolean; deep?: boolean; grace: string }) => {
      const ok = opts.invariants
        ? await runInvariantsCheck({
            json: Boolean(opts.json),
            deep: Boolean(opts.deep),
            graceSeconds: /^\d+$/.test(opts.grace) ? Number(opts.grace) : Number(positiveInt(opts.grace, '--grace')),
            print: out,
          })
        : await runDoctor({ json: Boolean(opts.json), print: out });
      if (!ok) process.exitCode = 1;
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    const code = exitCodeOf(err);
    process.stderr.write(`intake: ${errorMessage(err)}\n`);
    if (!(err instanceof IntakeError) && process.env.LOG_LEVEL === 'debug') console.error(err);
    return code;
  }
}

const isEntry = process.argv[1] && /(?:^|[\\/])(?:cli\.ts|intake(?:\.js)?)$/.test(process.argv[1]);
if (isEntry) {
  // process.exit() drops output still queued for a pipe (a large `messages --json`): exit once stdout is flushed.
  main(process.argv.slice(2)).then((code) => process.stdout.write('', () => process.exit(code)));
}
