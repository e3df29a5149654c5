import { describe, expect, it } from 'vitest';
import {
  defaultVideoLimits as limits,
  ffmpegArgs,
  judgeOutput,
  judgeVideo,
  mp4HasIndex,
  posterArgs,
  posterSeconds,
  probeArgs,
  type TranscodePlan,
  type VideoInfo,
  withoutCopy,
} from '../../src/core/video-policy.ts';

const MOV = 'mov,mp4,m4a,3gp,3g2,mj2';
type Video = NonNullable<VideoInfo['video']>;
type Audio = NonNullable<VideoInfo['audio']>;

/** An iPhone-like H.264 1080p clip in a MOV, 90 s, AAC stereo at 44.1 kHz. */
function clip(over: Partial<Omit<VideoInfo, 'video' | 'audio'>> & { video?: Partial<Video> | null; audio?: Partial<Audio> | null } = {}): VideoInfo {
  const { video, audio, ...rest } = over;
  return {
    container: MOV,
    durationSeconds: 90,
    sizeBytes: 50_000_000,
    streamCount: 2,
    otherStreams: [],
    ...rest,
    video: video === null ? null : { codec: 'h264', width: 1920, height: 1080, fps: 30, rotation: 0, pixFmt: 'yuv420p', ...video },
    audio: audio === null ? null : { codec: 'aac', channels: 2, sampleRate: 44100, ...audio },
  };
}

function planOf(info: VideoInfo): TranscodePlan {
  const v = judgeVideo(info, limits);
  if (!v.ok) throw new Error(`rejected: ${v.reason}`);
  return v.plan;
}

describe('judgeVideo rejects, with words for staff', () => {
  it.each<[string, VideoInfo, string]>([
    ['a zero-length file', clip({ sizeBytes: 0 }), 'the file is empty'],
    ['a PNG', clip({ container: 'png_pipe', video: { codec: 'png' }, audio: null }), 'not a video'],
    ['a JPEG sequence', clip({ container: 'image2', video: { codec: 'mjpeg' }, audio: null }), 'not a video'],
    ['a single MJPEG frame in a MOV', clip({ video: { codec: 'mjpeg' }, audio: null, durationSeconds: 0.04 }), 'not a video'],
    ['an HLS playlist', clip({ container: 'hls' }), 'not a video'],
    ['an ffconcat list', clip({ container: 'concat' }), 'not a video'],
    ['FLV', clip({ container: 'flv' }), 'unsupported file type (flv)'],
    ['sound only', clip({ video: null }), 'not a video (sound only)'],
    ['no streams at all', clip({ video: null, audio: null }), 'not a video'],
    ['ProRes', clip({ video: { codec: 'prores' } }), 'unsupported video format (prores)'],
    ['ALAC sound', clip({ audio: { codec: 'alac' } }), 'unsupported sound format (alac)'],
    ['no duration', clip({ durationSeconds: null }), 'the length of the video cannot be read'],
    ['NaN duration', clip({ durationSeconds: NaN }), 'the length of the video cannot be read'],
    ['infinite duration', clip({ durationSeconds: Infinity }), 'the length of the video cannot be read'],
    ['zero duration', clip({ durationSeconds: 0 }), 'the length of the video cannot be read'],
    ['a claimed 100 hours', clip({ durationSeconds: 360_000 }), 'longer than 30 minutes'],
    ['31 minutes', clip({ durationSeconds: 31 * 60 }), 'longer than 30 minutes'],
    ['too large a file', clip({ sizeBytes: 400 * 1024 * 1024 }), 'the file is too large (400 MB)'],
    ['64 streams', clip({ streamCount: 64 }), 'the file has too many tracks (64)'],
    ['16k × 16k', clip({ video: { width: 16000, height: 16000 } }), 'the picture is too large (16000×16000)'],
    ['wider than 8K', clip({ video: { width: 8192, height: 4320 } }), 'the picture is too large (8192×4320)'],
    ['2 × 2', clip({ video: { width: 2, height: 2 } }), 'the picture is too small (2×2)'],
    ['no size', clip({ video: { width: 0, height: 0 } }), 'the picture size cannot be read'],
    ['1000 fps', clip({ video: { fps: 1000 } }), 'the frame rate is too high (1000 frames per second)'],
  ])('%s', (_name, info, reason) => {
    expect(judgeVideo(info, limits)).toEqual({ ok: false, reason });
  });

  it('uses the configured limits in its words', () => {
    expect(judgeVideo(clip({ durationSeconds: 700 }), { ...limits, maxOriginalSeconds: 600 })).toEqual({
      ok: false,
      reason: 'longer than 10 minutes',
    });
  });
});

describe('judgeVideo accepts phone formats and plans the transcode', () => {
  const accept: Array<[string, VideoInfo, Partial<TranscodePlan>]> = [
    ['iPhone H.264 1080p MOV, 90 s: copy both', clip(), { trim: false, outputSeconds: 90, cutSeconds: 120, copyVideo: true, copyAudio: true, scaleTo: null, hasAudio: true }],
    ['the same at 150 s: copy and trim at 120 (an AAC frame at 44.1 kHz is shorter than a video frame)', clip({ durationSeconds: 150 }), { trim: true, outputSeconds: 120, cutSeconds: 120, copyVideo: true, copyAudio: true }],
    ['60 fps with 48 kHz sound: cut earlier by what an AAC frame overhangs a video frame', clip({ durationSeconds: 150, video: { fps: 60 }, audio: { sampleRate: 48000 } }), { cutSeconds: 119.995, toleranceSeconds: 0.017 }],
    ['25 fps with 8 kHz sound (a 128 ms AAC frame)', clip({ durationSeconds: 150, video: { fps: 25 }, audio: { sampleRate: 8000 } }), { cutSeconds: 119.912, toleranceSeconds: 0.04 }],
    ['iPhone HEVC 4K, shot upright: re-encode, scale to 1080×1920, keep the AAC', clip({ durationSeconds: 150, video: { codec: 'hevc', width: 3840, height: 2160, rotation: 90 } }), { trim: true, cutSeconds: 120, copyVideo: false, copyAudio: true, scaleTo: { width: 1080, height: 1920 } }],
    ['H.264 4K: scale to 1920×1080', clip({ video: { width: 3840, height: 2160 } }), { copyVideo: false, scaleTo: { width: 1920, height: 1080 } }],
    ['ultra-wide 2560×1080', clip({ video: { width: 2560, height: 1080 } }), { scaleTo: { width: 1920, height: 810 } }],
    ['odd sizes: even them', clip({ video: { width: 161, height: 121 } }), { copyVideo: false, scaleTo: { width: 160, height: 120 } }],
    ['upright 1080×1920 fits as it is', clip({ video: { width: 1080, height: 1920 } }), { copyVideo: true, scaleTo: null }],
    ['full-range H.264 (yuvj420p): re-encode', clip({ video: { pixFmt: 'yuvj420p' } }), { copyVideo: false, copyAudio: true, scaleTo: null }],
    ['10-bit H.264: re-encode', clip({ video: { pixFmt: 'yuv420p10le' } }), { copyVideo: false }],
    ['H.264/AAC in Matroska: re-encode, its timestamps are coarse', clip({ container: 'matroska,webm' }), { copyVideo: false, copyAudio: false }],
    ['WebM VP9/Opus', clip({ container: 'matroska,webm', video: { codec: 'vp9' }, audio: { codec: 'opus', sampleRate: 48000 } }), { copyVideo: false, copyAudio: false }],
    ['3GP H.263/AMR', clip({ video: { codec: 'h263', width: 176, height: 144, fps: 15 }, audio: { codec: 'amr_nb', channels: 1, sampleRate: 8000 } }), { copyVideo: false, copyAudio: false, scaleTo: null }],
    ['AVI MPEG-4/MP3', clip({ container: 'avi', video: { codec: 'mpeg4', width: 640, height: 480 }, audio: { codec: 'mp3' } }), { copyVideo: false, copyAudio: false }],
    ['MPEG-TS H.264/AC-3', clip({ container: 'mpegts', audio: { codec: 'ac3', channels: 6 } }), { copyVideo: false, copyAudio: false }],
    ['PCM sound', clip({ audio: { codec: 'pcm_s16le' } }), { copyVideo: true, copyAudio: false }],
    ['5.1 AAC: re-encode to stereo', clip({ audio: { channels: 6 } }), { copyVideo: true, copyAudio: false }],
    ['no sound', clip({ audio: null }), { hasAudio: false, copyAudio: false, copyVideo: true }],
    ['240 fps slow motion: re-encode at 60', clip({ video: { codec: 'hevc', fps: 240 } }), { copyVideo: false, fps: 60, toleranceSeconds: 0.017 }],
    ['exactly 120 s: nothing to trim', clip({ durationSeconds: 120 }), { trim: false, outputSeconds: 120, cutSeconds: 120 }],
    ['30 minutes is still allowed', clip({ durationSeconds: 1800 }), { trim: true, outputSeconds: 120 }],
    ['8K upright is within the limits', clip({ video: { codec: 'hevc', width: 4320, height: 7680 } }), { scaleTo: { width: 1080, height: 1920 } }],
  ];
  it.each(accept)('%s', (_name, info, expected) => {
    const plan = planOf(info);
    expect(plan).toMatchObject(expected);
    expect(plan.maxOutputBytes).toBe(limits.maxBytes);
  });

  it('scales to even sizes within 1920×1080 and keeps the aspect', () => {
    for (const [w, h] of [[4000, 3000], [3000, 4000], [1921, 1081], [7680, 4320], [1000, 7000]]) {
      const { scaleTo } = planOf(clip({ video: { width: w, height: h } }));
      expect(scaleTo).not.toBeNull();
      const { width, height } = scaleTo!;
      expect(width % 2 + height % 2).toBe(0);
      expect(Math.max(width, height)).toBeLessThanOrEqual(1920);
      expect(Math.min(width, height)).toBeLessThanOrEqual(1080);
      expect(Math.abs(width / height - w / h)).toBeLessThan(0.02);
    }
  });
});

describe('ffmpegArgs', () => {
  const IN = '/data/videos/7f3a.orig';
  const OUT = '/data/videos/7f3a.mp4.part';
  const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
  const copy = planOf(clip({ durationSeconds: 150 }));
  const encode = planOf(clip({ durationSeconds: 150, video: { codec: 'hevc', width: 3840, height: 2160, rotation: 90, fps: 240 } }));

  it.each([['copy', copy], ['re-encode', encode]])('%s: reads only the local file, through the allow-lists', (_n, plan) => {
    const args = ffmpegArgs(IN, OUT, plan);
    const input = args.indexOf('-i');
    expect(args[input + 1]).toBe(`file:${IN}`);
    expect(args.indexOf('-protocol_whitelist')).toBeLessThan(input);
    expect(after(args, '-protocol_whitelist')).toBe('file');
    expect(after(args, '-format_whitelist')).toBe('mov,matroska,avi,mpegts');
    expect(after(args, '-codec_whitelist').split(',')).toEqual(expect.arrayContaining(['h264', 'hevc', 'aac', 'vp9', 'opus']));
    expect(args.indexOf('-codec_whitelist')).toBeLessThan(input);
    expect(args.filter((a) => a.includes(IN))).toEqual([`file:${IN}`]);
  });

  it.each([['copy', copy], ['re-encode', encode]])('%s: one video, one optional sound, no metadata, faststart MP4, capped', (_n, plan) => {
    const args = ffmpegArgs(IN, OUT, plan);
    const s = args.join(' ');
    expect(s).toContain('-map 0:V:0 -map 0:a:0?');
    expect(s).toContain('-map_metadata -1 -map_chapters -1 -sn -dn -fflags +bitexact');
    expect(s).toContain('-movflags +faststart');
    expect(after(args, '-t')).toBe(String(plan.cutSeconds));
    expect(plan.cutSeconds).toBeGreaterThan(119.9);
    expect(after(args, '-fs')).toBe(String(limits.maxBytes));
    expect(after(args, '-f')).toBe('mp4');
    expect(args.slice(-2)).toEqual(['-y', `file:${OUT}`]);
    expect(args.filter((a) => a === '-y')).toHaveLength(1);
    expect(after(args, '-progress')).toBe('pipe:1');
  });

  it('copies H.264/AAC as it is', () => {
    const args = ffmpegArgs(IN, OUT, copy);
    expect(after(args, '-c:v')).toBe('copy');
    expect(after(args, '-bsf:v')).toBe('filter_units=remove_types=6');
    expect(after(args, '-c:a')).toBe('copy');
    expect(args).not.toContain('-vf');
    expect(args).not.toContain('libx264');
  });

  it('re-encodes to H.264 yuv420p at 60 fps, 1080p upright, AAC copied', () => {
    const args = ffmpegArgs(IN, OUT, encode);
    expect(after(args, '-c:v')).toBe('libx264');
    expect(after(args, '-preset')).toBe('veryfast');
    expect(after(args, '-crf')).toBe('23');
    expect(after(args, '-pix_fmt')).toBe('yuv420p');
    expect(after(args, '-vf')).toBe('fps=60,scale=1080:1920');
    expect(after(args, '-c:a')).toBe('copy');
  });

  it('encodes sound to AAC stereo when it is something else, and leaves it out when there is none', () => {
    const webm = ffmpegArgs(IN, OUT, planOf(clip({ container: 'matroska,webm', video: { codec: 'vp8' }, audio: { codec: 'opus' } })));
    expect(webm.join(' ')).toContain('-c:a aac -b:a 128k -ac 2');
    const mute = ffmpegArgs(IN, OUT, planOf(clip({ audio: null })));
    expect(mute).not.toContain('-c:a');
  });

  it('gives -t even when nothing is trimmed: a container may understate its length', () => {
    expect(after(ffmpegArgs(IN, OUT, planOf(clip({ durationSeconds: 10 }))), '-t')).toBe('120');
  });
});

describe('posterArgs and probeArgs', () => {
  it('takes one frame as JPEG, seeking before the input, same allow-lists, no metadata', () => {
    const args = posterArgs('/data/v/a.mp4', '/data/v/a.jpg.part', 1);
    const s = args.join(' ');
    expect(args.indexOf('-ss')).toBeLessThan(args.indexOf('-i'));
    expect(s).toContain('-protocol_whitelist file -format_whitelist mov,matroska,avi,mpegts');
    expect(s).toContain('-map 0:V:0 -map_metadata -1');
    expect(s).toContain('-frames:v 1');
    expect(s).toContain('-f image2 -update 1 -y file:/data/v/a.jpg.part');
  });

  it('probes with the allow-lists into JSON, the file last', () => {
    const args = probeArgs('/data/v/a.orig');
    expect(args.join(' ')).toContain('-protocol_whitelist file -format_whitelist mov,matroska,avi,mpegts -codec_whitelist');
    expect(args.slice(-3)).toEqual(['-of', 'json', 'file:/data/v/a.orig']);
  });

  it('takes the poster a second in, or halfway through a shorter clip', () => {
    expect(posterSeconds(90)).toBe(1);
    expect(posterSeconds(0.5)).toBe(0.25);
  });
});

describe('judgeOutput', () => {
  const copy = planOf(clip({ durationSeconds: 150 }));
  const encode = planOf(clip({ durationSeconds: 150, container: 'matroska,webm', video: { codec: 'vp9' }, audio: { codec: 'opus' } }));
  const out = (over: Parameters<typeof clip>[0]) => clip({ durationSeconds: 120, ...over });
  it.each<[string, VideoInfo, TranscodePlan, boolean]>([
    ['exactly 120 s', out({}), copy, true],
    ['120 s and less than a frame', out({ durationSeconds: 120.03 }), copy, true],
    ['HEVC', out({ video: { codec: 'hevc' } }), encode, false],
    ['no sound though the original had some', out({ audio: null }), encode, false],
    ['not MP4', out({ container: 'matroska,webm' }), encode, false],
  ])('%s', (_n, info, plan, ok) => {
    expect(judgeOutput(info, plan).ok).toBe(ok);
  });

  it('a copy longer than 120 s and a frame is redone by re-encoding, cut exactly', () => {
    const check = judgeOutput(out({ durationSeconds: 120.134 }), copy);
    expect(check).toMatchObject({ ok: false, cutOff: false, retry: { ...copy, copyVideo: false, copyAudio: false, cutSeconds: 120 } });
    expect(check).toEqual({ ...check, retry: withoutCopy(copy) });
  });

  it('a re-encode that is too long is a failure, not a loop', () => {
    expect(judgeOutput(out({ durationSeconds: 121 }), encode)).toMatchObject({ ok: false, retry: null });
  });

  it('a result much shorter than planned: the original is cut off', () => {
    expect(judgeOutput(out({ durationSeconds: 60 }), copy)).toMatchObject({ ok: false, reason: 'the file is cut off', cutOff: true, retry: null });
  });
});

describe('mp4HasIndex: the moov box among the top-level boxes, found as ffmpeg looks for it', () => {
  const box = (type: string, bodyBytes: number) => {
    const b = Buffer.alloc(8 + bodyBytes, 0x2e);
    b.writeUInt32BE(8 + bodyBytes, 0);
    b.write(type, 4, 'latin1');
    return b;
  };
  const large = (type: string, bodyBytes: number) => {
    const b = Buffer.alloc(16 + bodyBytes, 0x2e);
    b.writeUInt32BE(1, 0);
    b.write(type, 4, 'latin1');
    b.writeBigUInt64BE(BigInt(16 + bodyBytes), 8);
    return b;
  };
  const check = (file: Buffer, size = file.length) => mp4HasIndex((o) => file.subarray(o, o + 16), size);

  it('finds the index before or after the media data, or a fragment', () => {
    expect(check(Buffer.concat([box('ftyp', 16), box('moov', 40), box('mdat', 500)]))).toBe(true);
    expect(check(Buffer.concat([box('ftyp', 16), box('free', 8), box('mdat', 500), box('moov', 40)]))).toBe(true);
    expect(check(Buffer.concat([box('ftyp', 16), large('mdat', 300), box('moov', 40)]))).toBe(true);
    expect(check(Buffer.concat([box('ftyp', 16), box('moof', 30), box('mdat', 100)]))).toBe(true);
    // QuickTime files older than ftyp
    expect(check(Buffer.concat([box('wide', 0), box('mdat', 100), box('moov', 40)]))).toBe(true);
  });

  it('reports an MP4 whose index is gone: cut off before it, or garbage after the first box', () => {
    const whole = Buffer.concat([box('ftyp', 16), box('mdat', 500), box('moov', 40)]);
    expect(check(whole.subarray(0, 300))).toBe(false); // the mdat box runs past the end
    expect(check(Buffer.concat([box('ftyp', 16), box('mdat', 500)]))).toBe(false);
    const last = Buffer.concat([box('ftyp', 16), box('mdat', 100)]);
    last.writeUInt32BE(0, 24); // mdat to the end of the file: nothing after it
    expect(check(last)).toBe(false);
    const garbage = Buffer.concat([box('ftyp', 16), Buffer.from([0xff, 0xff, 0xff, 0xf0, 0x8a, 0x01, 0x9c, 0x33]), Buffer.alloc(100)]);
    expect(check(garbage)).toBe(false);
    const tiny = Buffer.concat([box('ftyp', 16), Buffer.from([0, 0, 0, 4, 0x75, 0x75, 0x69, 0x64]), box('moov', 40)]);
    expect(check(tiny)).toBe(false); // a size below a box header ends the walk: the moov after it is never reached
    // a moov box that starts in the file is for ffprobe to judge, whatever its size says
    expect(check(Buffer.concat([box('ftyp', 16), Buffer.from([0, 0, 0, 4, 0x6d, 0x6f, 0x6f, 0x76])]))).toBe(true);
  });

  it('says nothing of a file that does not start like an MP4', () => {
    expect(check(Buffer.from('\x1aE\xdf\xa3 matroska, not ours to judge here', 'latin1'))).toBeNull();
    expect(check(Buffer.from('RIFF\x00\x00\x00\x00AVI LIST', 'latin1'))).toBeNull();
    expect(check(Buffer.from('hello, this is text and not a video', 'latin1'))).toBeNull();
  });

  it('stops on a loop of empty-looking boxes and on a file shorter than a header', () => {
    expect(check(Buffer.alloc(4))).toBe(false);
    const many = Buffer.concat(Array.from({ length: 20_000 }, () => box('free', 0)));
    expect(check(many)).toBe(false);
  });
});
