// The commands of digests and publication: `digest daily`, `digest final`, `publish`, `name`. Registered on the
// program by cli.ts; each is a call into the pipeline and a line of output.
import os from 'node:os';
import type { Command } from 'commander';
import type { App } from '../app.ts';
import { IntakeError } from '../errors.ts';
import { digestDepsOf, previewDaily, previewFinal, queueDaily, queueFinal, requireDay, today } from '../pipeline/digest.ts';
import { publish } from '../pipeline/publish.ts';
import { setDisplayName } from '../pipeline/review.ts';
import { getRun, lastRunDay } from '../db/digest.ts';

type WithApp = <T>(fn: (app: App) => Promise<T>) => Promise<T>;
type Out = (text: string) => void;

const SENT_BY = 'the daemon sends it from the outbox (or `intake run --once`); `intake outbox` shows its state';

export function addDigestCommands(program: Command, withApp: WithApp, out: Out, positiveInt: (v: string, what: string) => number) {
  const digest = program.command('digest').description('the staff digests and the families\' compilations');

  digest
    .command('daily')
    .description("build the staff digest of a day: --preview writes its HTML (and text) to a file, --send queues it once")
    .option('--date <day>', 'the local day, YYYY-MM-DD (default: today in the campaign time zone)')
    .option('--preview <file>', 'write the HTML to this file (the text beside it, .txt); nothing is sent')
    .option('--send', 'queue it to every staff recipient (once per day: a second time is refused)')
    .action(async (opts: { date?: string; preview?: string; send?: boolean }) => {
      if (Boolean(opts.preview) === Boolean(opts.send)) throw new IntakeError('USAGE', 'digest daily: give exactly one of --preview FILE or --send');
      const day = opts.date === undefined ? undefined : requireDay(opts.date);
      await withApp(async (app) => {
        const deps = digestDepsOf(app);
        const d = day ?? today(deps);
        if (opts.preview) {
          const p = await previewDaily(deps, d, opts.preview);
          out(`daily digest for ${d} (${p.items} new items) written to ${p.file} and ${p.textFile}`);
          return;
        }
        const latest = await lastRunDay(app.db.orm, 'daily');
        if (latest !== null && latest > d)
          throw new IntakeError('INVALID', `the digest of ${latest}, a later day, was already sent: it covered ${d}; nothing queued`);
        const r = await queueDaily(deps, d);
        if (r.already) {
          const run = await getRun(app.db.orm, 'daily', d);
          throw new IntakeError('INVALID', `the daily digest for ${d} was already queued (${run?.createdAt.toISOString()}); nothing queued`);
        }
        out(`daily digest for ${d} queued to ${r.queued} staff recipient(s); ${SENT_BY}`);
      });
    });

  digest
    .command('final')
    .description("each story's compilation of approved items: --preview writes them, --send queues the staff's final digest (--family also each family's)")
    .option('--preview <dir>', 'write one HTML and one text file per story (videos copied beside them); nothing is sent')
    .option('--send', 'queue the final digest to staff, once')
    .option('--family', "with --send: also queue each story's compilation to its familyContact, once per story")
    .action(async (opts: { preview?: string; send?: boolean; family?: boolean }) => {
      if (Boolean(opts.preview) === Boolean(opts.send)) throw new IntakeError('USAGE', 'digest final: give exactly one of --preview DIR or --send');
      if (opts.family && !opts.send) throw new IntakeError('USAGE', 'digest final: --family goes with --send');
      await withApp(async (app) => {
        const deps = digestDepsOf(app);
        if (opts.preview) {
          const p = await previewFinal(deps, opts.preview);
          out(`${p.files.length / 2} story compilations (${p.items} approved items) written to ${p.dir}`);
          return;
        }
        const r = await queueFinal(deps, { family: Boolean(opts.family) });
        out(r.staff.already ? 'final digest to staff: already queued before; nothing new' : `final digest queued to ${r.staff.queued} staff recipient(s)`);
        if (opts.family) {
          for (const f of r.families) out(`story ${f.story}: family compilation ${f.queued ? 'queued' : 'already queued before; nothing new'}`);
          for (const n of r.familiesSkipped) out(`story ${n}: no approved items yet; nothing sent to the family`);
          const without = app.config.campaign.stories.filter((s) => !s.familyContact).length;
          if (without) out(`${without} stories have no familyContact in the campaign file`);
        }
        out(SENT_BY);
      });
    });

  program
    .command('publish')
    .description('write the website bundle: index, a page per story, feed.json, videos and posters; approved items only, no addresses')
    .argument('<dir>', 'a new or empty folder, or one an earlier publish made (it is replaced)')
    .option('--json', 'print one JSON document')
    .action(async (dir: string, opts: { json?: boolean }) => {
      await withApp(async (app) => {
        const r = await publish(digestDepsOf(app), dir);
        if (opts.json) return out(JSON.stringify(r, null, 2));
        out(`published ${r.stories} stories to ${r.dir}: ${r.messages} messages, ${r.videos} videos, ${r.links} video links`);
        if (r.videosNotReady.length) out(`left out, processed video not ready: item ${r.videosNotReady.join(', ')}`);
      });
    });

  program
    .command('name')
    .description('set the name shown under an item in the compilations and on the website (recorded)')
    .argument('<item>', 'item id')
    .argument('[name]', 'the display name, e.g. "Nodira, Khujand"')
    .option('--anonymous', 'show "a supporter" instead of any name')
    .option('--by <name>', 'who decides (recorded)', os.userInfo().username)
    .action(async (item: string, name: string | undefined, opts: { anonymous?: boolean; by: string }) => {
      if ((name === undefined) === !opts.anonymous) throw new IntakeError('USAGE', 'name: give either a name or --anonymous');
      const id = positiveInt(item, 'item');
      await withApp(async (app) => {
        const set = await setDisplayName(app.db, id, opts.anonymous ? null : name!, opts.by, app.clock.now());
        out(set ? `item ${id} is shown as "${set}"` : `item ${id} is shown as "a supporter"`);
      });
    });
}
