// The website bundle's content: an index of the stories, a page per story, a JSON Feed. Pure: paths in here are
// relative to the bundle's folder (the pipeline copies the files there), so the pages work opened from disk or
// uploaded anywhere. Every sender-supplied string goes through the escaping template.
import { Html, html } from './html.ts';
import { countsLine, countsOf, entryHtml, shown, withoutSignOff, type StoryCompilation } from './compilation.ts';
import { redactAddresses } from './privacy.ts';

export interface Site {
  name: string;
  hashtag: string;
}

export const storyFile = (n: number) => `story-${n}.html`;

const CSS = `
body{margin:0;background:#f4f1ea;color:#222;font:17px/1.5 -apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Noto Sans',Arial,sans-serif}
main{max-width:720px;margin:0 auto;padding:20px 16px 48px;background:#fff;min-height:100vh;box-sizing:border-box}
h1{font-size:26px;line-height:1.25;margin:0 0 6px}
a{color:#5b3f0f}
nav{margin:0 0 16px;font-size:15px}
.muted{color:#666}
ol.stories{list-style:none;padding:0;margin:16px 0}
ol.stories li{padding:12px 0;border-bottom:1px solid #e5e0d5}
ol.stories a{font-size:19px;font-weight:600;text-decoration:none}
@media print{body{background:#fff}main{max-width:none;padding:0}video{display:none}nav{display:none}}
@media screen{.print-only{display:none}}
`;

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title}</title><style>${new Html(CSS)}</style></head>
<body><main>
${body}
</main></body></html>
`.value;
}

export function renderIndex(site: Site, stories: StoryCompilation[]): string {
  const total = countsOf(stories.flatMap((s) => shown(s.entries)));
  return page(
    site.name,
    html`<h1>${site.name}</h1>
<p class="muted">${site.hashtag} · ${countsLine(total)} of support</p>
<ol class="stories">${stories.map((s) => html`<li><a href="${storyFile(s.number)}">${s.title}</a><br><span class="muted counts">${countsLine(countsOf(shown(s.entries)))}</span></li>`)}</ol>`,
  );
}

export function renderStoryPage(site: Site, s: StoryCompilation): string {
  const entries = shown(s.entries);
  return page(
    `${s.title} · ${site.name}`,
    html`<nav><a href="index.html">← ${site.name}</a></nav>
<h1>${s.title}</h1>
<p class="muted counts">${countsLine(countsOf(entries))}</p>
${entries.length ? entries.map((e) => entryHtml(e, 'files')) : html`<p class="muted">No messages yet.</p>`}`,
  );
}

/** A JSON Feed (version 1.1) of every published contribution; no dates or addresses, only what the pages show. */
export function feed(site: Site, stories: StoryCompilation[]) {
  return {
    version: 'https://jsonfeed.org/version/1.1',
    title: site.name,
    home_page_url: 'index.html',
    items: stories.flatMap((s) =>
      shown(s.entries).map((e) => ({
        id: `item-${e.itemId}`,
        url: `${storyFile(s.number)}#item-${e.itemId}`,
        title: s.title,
        ...(e.kind === 'message' ? { content_text: redactAddresses(withoutSignOff(e.text ?? '')) } : {}),
        ...(e.kind === 'video_link' ? { external_url: e.url, content_text: e.url ?? '' } : {}),
        ...(e.kind === 'video' && e.video
          ? {
              content_text: 'video',
              ...(e.video.poster ? { image: e.video.poster } : {}),
              attachments: [
                { url: e.video.file, mime_type: 'video/mp4', ...(e.video.seconds ? { duration_in_seconds: Math.round(e.video.seconds) } : {}) },
              ],
            }
          : {}),
        authors: [{ name: e.name }],
        ...(e.language ? { language: e.language } : {}),
        tags: [`story-${s.number}`, e.kind],
      })),
    ),
  };
}
