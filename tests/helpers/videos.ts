// Test videos made at test time from ffmpeg's lavfi sources: tiny pictures, silence, ultrafast presets, so the
// whole set costs a few seconds. Made once per process into a temporary folder, which the caller removes.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Planted in metadata, subtitles and referenced files: it must never appear in anything we produce. */
export const CANARY = 'CANARY123';
const LOCATION = `+12.3456+045.6789${CANARY}/`;

export type VideoName =
  | 'ok10.mp4'
  | 'long150.mp4'
  | 'bframes150.mp4'
  | 'iphone150.mov'
  | 'clip.3gp'
  | 'clip.webm'
  | 'sound.mp4'
  | 'picture.mp4'
  | 'cut.mp4'
  | 'tail-cut.mp4'
  | 'empty.mp4'
  | 'text.mp4'
  | 'playlist.mp4'
  | 'concat.mp4';

export interface TestVideos {
  dir: string;
  path(name: VideoName): string;
  /** The file the playlists point at (a valid MPEG-TS holding the canary): it must never be read. */
  target: string;
  remove(): void;
}

const ff = (args: string[], cwd: string) => exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { cwd });

const silence = (rate: number) => ['-f', 'lavfi', '-i', `anullsrc=r=${rate}:cl=mono`];
const picture = (size: string, fps: number) => ['-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${fps}`];
const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '35', '-pix_fmt', 'yuv420p'];
const aac = ['-c:a', 'aac', '-b:a', '24k'];
// Phones write the position both as a QuickTime user-data tag and as an mdta key; keep both, and a stream tag.
const gps = [
  '-metadata', `location=${LOCATION}`,
  '-metadata', `com.apple.quicktime.location.ISO6709=${LOCATION}`,
  '-metadata', `title=${CANARY} title`,
  '-metadata:s:v', `location=${LOCATION}`,
  '-metadata:s:v', `handler_name=${CANARY} handler`,
  '-movflags', 'use_metadata_tags',
];

// User data in the H.264 bitstream itself (an SEI unit), where no metadata option reaches.
const sei = ['-bsf:v', `h264_metadata=sei_user_data=086f3693-b7b3-4f2c-9653-21492feee5b8+${CANARY}`];

const recipes: Record<VideoName, (dir: string) => Promise<unknown>> = {
  'ok10.mp4': (dir) => ff([...picture('160x120', 15), ...silence(44100), '-t', '10', ...x264, ...aac, 'ok10.mp4'], dir),
  // H.264/AAC in MP4: the copy path, trimmed; with GPS tags that a copy must not carry over.
  'long150.mp4': (dir) =>
    ff([...picture('160x120', 10), ...silence(44100), '-t', '150', ...x264, ...sei, ...aac, ...gps, 'long150.mp4'], dir),
  // H.264 with B-frames: a stream copy cut at 120 s keeps a P-frame shown after the cut (120.2 s here).
  'bframes150.mp4': (dir) =>
    ff([...picture('160x120', 10), ...silence(44100), '-t', '150', ...x264, '-bf', '2', '-b-pyramid', 'none', ...aac, 'bframes150.mp4'], dir),
  // An iPhone-like MOV: HEVC (hvc1), AAC, shot sideways (display matrix 90°), GPS tags and a subtitle track
  // whose text is the canary. Rotation can only be set on a stream copy in ffmpeg 5.1, hence two steps.
  'iphone150.mov': async (dir) => {
    fs.writeFileSync(path.join(dir, 'subs.srt'), `1\n00:00:00,000 --> 00:02:00,000\n${CANARY} subtitle\n`);
    await ff(
      [
        ...picture('160x120', 10), ...silence(48000), '-i', 'subs.srt', '-map', '0', '-map', '1', '-map', '2', '-t', '150',
        '-c:v', 'libx265', '-preset', 'ultrafast', '-crf', '35', '-x265-params', 'log-level=error', '-tag:v', 'hvc1',
        '-pix_fmt', 'yuv420p', ...aac, '-c:s', 'mov_text', ...gps, 'step.mov',
      ],
      dir,
    );
    await ff(['-i', 'step.mov', '-map', '0', '-c', 'copy', '-map_metadata', '0', '-metadata:s:v:0', 'rotate=90', ...gps, 'iphone150.mov'], dir);
    fs.rmSync(path.join(dir, 'step.mov'));
  },
  // Old Android: H.263 at QCIF (the sizes H.263 allows) with AAC in 3GP (no AMR encoder in Debian's ffmpeg).
  'clip.3gp': (dir) => ff([...picture('176x144', 15), ...silence(8000), '-t', '5', '-c:v', 'h263', '-c:a', 'aac', '-b:a', '12k', 'clip.3gp'], dir),
  'clip.webm': (dir) =>
    ff(
      [...picture('160x120', 15), ...silence(48000), '-t', '5', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '100k', '-c:a', 'libopus', '-b:a', '16k', 'clip.webm'],
      dir,
    ),
  // An .m4a under a video's name.
  'sound.mp4': (dir) => ff([...silence(44100), '-t', '5', ...aac, '-f', 'mp4', 'sound.mp4'], dir),
  'picture.mp4': (dir) => ff([...picture('160x120', 1), '-frames:v', '1', '-f', 'image2', '-c:v', 'png', 'picture.mp4'], dir),
  // Without faststart the index (moov) is written last: half the file is all media data and no index.
  'cut.mp4': async (dir) => {
    await ff([...picture('160x120', 15), ...silence(44100), '-t', '10', ...x264, ...aac, 'whole.mp4'], dir);
    const whole = fs.readFileSync(path.join(dir, 'whole.mp4'));
    fs.writeFileSync(path.join(dir, 'cut.mp4'), whole.subarray(0, whole.length >> 1));
    fs.rmSync(path.join(dir, 'whole.mp4'));
  },
  // With faststart the index comes first and is whole; the media data it points at ends halfway.
  'tail-cut.mp4': async (dir) => {
    await ff([...picture('160x120', 15), ...silence(44100), '-t', '10', ...x264, ...aac, '-movflags', '+faststart', 'whole-fs.mp4'], dir);
    const whole = fs.readFileSync(path.join(dir, 'whole-fs.mp4'));
    fs.writeFileSync(path.join(dir, 'tail-cut.mp4'), whole.subarray(0, whole.length >> 1));
    fs.rmSync(path.join(dir, 'whole-fs.mp4'));
  },
  'empty.mp4': async (dir) => fs.writeFileSync(path.join(dir, 'empty.mp4'), ''),
  'text.mp4': async (dir) => fs.writeFileSync(path.join(dir, 'text.mp4'), 'Dear friends, here is my video about story 8.\n'),
  // Relative names in the same folder: what ffmpeg's HLS and concat demuxers would happily open.
  'playlist.mp4': async (dir) =>
    fs.writeFileSync(path.join(dir, 'playlist.mp4'), '#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:4,\ntarget.ts\n#EXT-X-ENDLIST\n'),
  'concat.mp4': async (dir) => fs.writeFileSync(path.join(dir, 'concat.mp4'), "ffconcat version 1.0\nfile 'target.ts'\n"),
};

let made: Promise<TestVideos> | undefined;

/** All test videos, made once per process (about 5 s on two cores). */
export function testVideos(): Promise<TestVideos> {
  return (made ??= make());
}

async function make(): Promise<TestVideos> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intake-videos-'));
  await ff(
    [...picture('160x120', 15), ...silence(44100), '-t', '4', ...x264, ...aac, '-metadata', `service_name=${CANARY} target`, 'target.ts'],
    dir,
  );
  // Two at a time: the machines have two cores.
  const queue = Object.entries(recipes) as Array<[VideoName, (dir: string) => Promise<unknown>]>;
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await next[1](dir);
  };
  await Promise.all([worker(), worker()]);
  return {
    dir,
    path: (name) => path.join(dir, name),
    target: path.join(dir, 'target.ts'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A supporter's mail for story 8 with this file attached as a base64 MIME part, the way phones send it. */
export function videoMail(file: string, o: { filename?: string; contentType?: string; messageId?: string } = {}): Buffer {
  const b64 = fs.readFileSync(file).toString('base64').replace(/.{76}/g, '$&\r\n');
  const head = [
    'From: Nodira <nodira@example.tj>',
    'To: campaign@notorture.example.org',
    'Subject: Video for story 8 #notorturetj',
    'Date: Tue, 08 Dec 2026 10:00:00 +0500',
    `Message-ID: ${o.messageId ?? `<${Math.random().toString(36).slice(2)}@example.tj>`}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
  ];
  const body = [
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Here is my video about story 8.',
    '',
    'Nodira',
    '--b1',
    `Content-Type: ${o.contentType ?? 'video/mp4'}`,
    `Content-Disposition: attachment; filename="${o.filename ?? path.basename(file)}"`,
    'Content-Transfer-Encoding: base64',
    '',
    b64,
    '--b1--',
    '',
  ];
  return Buffer.from([...head, '', ...body].join('\r\n'));
}

/** Top-level ISO BMFF boxes, in file order. */
export function topBoxes(file: string): string[] {
  const b = fs.readFileSync(file);
  const boxes: string[] = [];
  for (let i = 0; i + 8 <= b.length; ) {
    const size32 = b.readUInt32BE(i);
    boxes.push(b.toString('latin1', i + 4, i + 8));
    const size = size32 === 1 ? Number(b.readBigUInt64BE(i + 8)) : size32 === 0 ? b.length - i : size32;
    if (size < 8) break;
    i += size;
  }
  return boxes;
}

/** Live processes whose command line names this path (from /proc: slim images have no ps), optionally only those matching `only`. */
export function processesNaming(p: string, only?: RegExp): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      const state = /^\d+ \(.*\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
      if (args.includes(p) && (!only || only.test(args)) && state !== 'Z') found.push(`${pid} ${args}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
