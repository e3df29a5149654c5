// `intake publish <dir>`: the website bundle, approved items only. Built in a sibling temp folder and swapped
// in whole, so the folder is never half old, half new; a folder that holds anything else is refused.
import fs from 'node:fs';
import path from 'node:path';
import { feed, renderIndex, renderStoryPage, storyFile } from '../core/publish.ts';
import { countsOf, shown } from '../core/compilation.ts';
import { approvedItems } from '../db/digest.ts';
import { copiedVideo, loadCompilations, type DigestDeps } from './digest.ts';
import { IntakeError } from '../errors.ts';

/** Marks a folder as made by `intake publish`, so publishing again may replace it. */
export const MARKER = '.intake-publication';

export interface PublishResult {
  dir: string;
  stories: number;
  messages: number;
  videos: number;
  links: number;
  /** Approved videos left out because their processed file is not ready (yet, or at all). */
  videosNotReady: number[];
  files: string[];
}

function checkTarget(dir: string) {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new IntakeError('USAGE', `${dir} exists and is not a folder`);
  const entries = fs.readdirSync(dir);
  if (entries.length && !entries.includes(MARKER))
    throw new IntakeError('USAGE', `${dir} is not empty and was not made by intake publish: choose a new or empty folder`);
}

function listFiles(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p, base) : [path.relative(base, p)];
  });
}

export async function publish(deps: DigestDeps, dir: string): Promise<PublishResult> {
  const target = path.resolve(dir);
  checkTarget(target);
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.new-`));
  try {
    const comps = await loadCompilations(deps.db.orm, deps.campaign, copiedVideo(deps.dataDir, tmp));
    const site = { name: deps.campaign.name, hashtag: deps.campaign.hashtag };
    fs.writeFileSync(path.join(tmp, 'index.html'), renderIndex(site, comps));
    for (const c of comps) fs.writeFileSync(path.join(tmp, storyFile(c.number)), renderStoryPage(site, c));
    fs.writeFileSync(path.join(tmp, 'feed.json'), JSON.stringify(feed(site, comps), null, 2) + '\n');
    fs.writeFileSync(path.join(tmp, MARKER), 'made by intake publish; publishing again replaces this folder\n');
    // Meant to be served: readable by all (the data dir's copies are 0600).
    for (const f of listFiles(tmp)) {
      fs.chmodSync(path.join(tmp, f), 0o644);
      fs.chmodSync(path.dirname(path.join(tmp, f)), 0o755);
    }

    // Swap: the old bundle moves aside, the new one takes its name, the old one goes.
    const old = fs.existsSync(target) ? `${tmp}.old` : null;
    if (old) fs.renameSync(target, old);
    fs.renameSync(tmp, target);
    if (old) fs.rmSync(old, { recursive: true, force: true });

    const all = comps.flatMap((c) => shown(c.entries));
    const counts = countsOf(all);
    const approvedVideos = (await approvedItems(deps.db.orm)).filter((r) => r.kind === 'video').map((r) => r.id);
    const result: PublishResult = {
      dir: target,
      stories: comps.length,
      ...counts,
      videosNotReady: approvedVideos.filter((id) => !all.some((e) => e.itemId === id)),
      files: listFiles(target).filter((f) => f !== MARKER),
    };
    deps.log.info({ stories: result.stories, messages: counts.messages, videos: counts.videos, links: counts.links }, 'publication written');
    return result;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
