import { describe, expect, it } from 'vitest';
import { extractItems, findVideoLinks, isVideoAttachment, videoHost } from '../../src/core/items.ts';
import { reviewTransition } from '../../src/core/review.ts';

describe('video links', () => {
  it.each([
    ['https://drive.google.com/file/d/1AbC/view?usp=sharing', 'Google Drive'],
    ['https://youtu.be/dQw4w9WgXcQ', 'YouTube'],
    ['https://www.youtube.com/shorts/abc', 'YouTube'],
    ['https://www.dropbox.com/scl/fi/x/video.mp4?dl=0', 'Dropbox'],
    ['https://we.tl/t-ABCDEF', 'WeTransfer'],
    ['https://t.me/notorturetj/123', 'Telegram'],
    ['https://www.icloud.com/iclouddrive/0abc#video', 'iCloud'],
    ['https://disk.yandex.ru/i/abc', 'Yandex Disk'],
    ['https://example.org/video.mp4', null],
    ['javascript:alert(1)', null],
    ['https://drive.google.com.evil.example/x', null],
  ])('%s -> %s', (url, host) => {
    expect(videoHost(url)).toBe(host);
  });

  it('finds links in text and HTML, once each, without trailing punctuation', () => {
    const links = findVideoLinks(
      'My video: https://youtu.be/abc. Also (https://we.tl/t-X)',
      '<a href="https://youtu.be/abc">watch</a> <a href="https://drive.google.com/file/d/1/view?a=1&amp;b=2">drive</a>',
    );
    expect(links).toEqual(['https://youtu.be/abc', 'https://we.tl/t-X', 'https://drive.google.com/file/d/1/view?a=1&b=2']);
  });
});

describe('video attachments', () => {
  it.each([
    [{ contentType: 'video/mp4', filename: 'a.mp4' }, true],
    [{ contentType: 'video/quicktime', filename: null }, true],
    [{ contentType: 'application/octet-stream', filename: 'IMG_0001.MOV' }, true],
    [{ contentType: 'application/octet-stream', filename: 'report.pdf' }, false],
    [{ contentType: 'image/jpeg', filename: 'photo.mp4.jpg' }, false],
    [{ contentType: 'application/pdf', filename: 'clip.mp4' }, false],
  ])('%j -> %s', (a, expected) => {
    expect(isVideoAttachment(a)).toBe(expected);
  });

  it('makes one item for the text, one per video attachment and one per video link; photos stay attachments', () => {
    const items = extractItems(
      {
        text: 'see https://youtu.be/x',
        html: null,
        attachments: [
          { id: 7, contentType: 'video/mp4', filename: 'a.mp4', size: 1 },
          { id: 8, contentType: 'image/jpeg', filename: 'b.jpg', size: 1 },
        ],
      },
      'Stay strong. see https://youtu.be/x',
    );
    expect(items.map((i) => [i.kind, i.key])).toEqual([
      ['message', 'text'],
      ['video', 'att:7'],
      ['video_link', 'url:https://youtu.be/x'],
    ]);
    expect(extractItems({ text: null, html: null, attachments: [] }, '  ')).toEqual([]);
  });
});

describe('review transitions', () => {
  const item = { id: 5, status: 'pending' as const, story: 8 };
  it('approves and rejects a pending item', () => {
    expect(reviewTransition(item, 'approve')).toEqual({ ok: true, to: 'approved' });
    expect(reviewTransition(item, 'reject', 'off topic')).toEqual({ ok: true, to: 'rejected' });
  });
  it('refuses what makes no sense, saying why', () => {
    expect(reviewTransition({ ...item, status: 'approved' }, 'approve')).toEqual({ ok: false, error: 'item 5 is already approved' });
    expect(reviewTransition({ ...item, story: null }, 'approve')).toMatchObject({ ok: false, error: expect.stringMatching(/assign one first/) });
    expect(reviewTransition(item, 'reject', ' ')).toMatchObject({ ok: false, error: expect.stringMatching(/reason/) });
  });
  it('lets staff change their mind', () => {
    expect(reviewTransition({ ...item, status: 'rejected' }, 'approve')).toEqual({ ok: true, to: 'approved' });
    expect(reviewTransition({ ...item, status: 'approved' }, 'reject', 'family asked')).toEqual({ ok: true, to: 'rejected' });
  });
});
