// Video policy: what ffprobe told us -> accept with a transcode plan, or reject with words staff understand;
// and the ffmpeg/ffprobe command lines as data (immich computes its commands the same way). Pure: the
// adapter in src/adapters/ffmpeg.ts runs these argument lists and nothing else.

export interface VideoInfo {
  /** ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm". */
  container: string;
  durationSeconds: number | null;
  sizeBytes: number;
  /** The first video stream that is not a cover picture. */
  video: {
    codec: string;
    width: number;
    height: number;
    fps: number | null;
    /** Display rotation in degrees, 0/90/180/270 (phones record sideways and say so in a display matrix). */
    rotation: number;
    pixFmt: string | null;
  } | null;
  audio: { codec: string; channels: number; sampleRate: number | null } | null;
  streamCount: number;
  /** codec_type of every stream besides the two above: subtitle, data, attachment, or a second audio/video. */
  otherStreams: string[];
}

export interface VideoLimits {
  /** The trim target. */
  maxSeconds: number;
  /** Longer originals are refused rather than trimmed. */
  maxOriginalSeconds: number;
  /** Largest input picture; checked in either orientation. */
  maxWidth: number;
  maxHeight: number;
  maxFps: number;
  /** Largest input file, and the -fs cap of the output. */
  maxBytes: number;
  maxStreams: number;
}

export const defaultVideoLimits: VideoLimits = Object.freeze({
  maxSeconds: 120,
  maxOriginalSeconds: 1800,
  maxWidth: 7680,
  maxHeight: 4320,
  maxFps: 240,
  maxBytes: 300 * 1024 * 1024,
  maxStreams: 16,
});

export interface TranscodePlan {
  /** The original is longer than maxSeconds. */
  trim: boolean;
  /** Expected duration of the result. */
  outputSeconds: number;
  /** The `-t` value: always given, as a hard bound even when not trimming (a container may lie about its length). */
  cutSeconds: number;
  /** ffprobe may report up to this much more than outputSeconds (one frame). */
  toleranceSeconds: number;
  copyVideo: boolean;
  copyAudio: boolean;
  /** At most 1080p in the displayed orientation, aspect kept, even sizes; null when the picture fits as it is. */
  scaleTo: { width: number; height: number } | null;
  /** Re-encode at this frame rate (slow-motion phone clips are 120-240 fps); null keeps the source's timing. */
  fps: number | null;
  hasAudio: boolean;
  /** `-fs`: ffmpeg stops writing past this; the adapter treats reaching it as a failure. */
  maxOutputBytes: number;
}

export type Verdict = { ok: false; reason: string } | { ok: true; plan: TranscodePlan };

// ffprobe format_name values. The mov demuxer serves MP4, MOV (iPhone), 3GP/3G2 (old Android) alike.
// flv is left out on purpose: no phone records it, and its demuxer is one more attack surface.
const CONTAINERS = new Set(['mov,mp4,m4a,3gp,3g2,mj2', 'matroska,webm', 'avi', 'mpegts']);
const MOV_FAMILY = 'mov,mp4,m4a,3gp,3g2,mj2';
/** What ffmpeg may demux at all (`-format_whitelist`); each name matches one of a demuxer's aliases. */
export const DEMUXERS = ['mov', 'matroska', 'avi', 'mpegts'];

const VIDEO_CODECS = new Set(['h264', 'hevc', 'vp8', 'vp9', 'av1', 'mpeg4', 'h263']);
const AUDIO_CODECS = new Set(['aac', 'opus', 'mp3', 'amr_nb', 'amr_wb', 'vorbis', 'ac3']);
const PCM = /^pcm_(s16le|s16be|s24le|s24be|s32le|f32le|u8|mulaw|alaw)$/;
const IMAGE_CODECS = new Set(['png', 'mjpeg', 'jpeg2000', 'bmp', 'gif', 'webp', 'tiff', 'jpegls']);
const IMAGE_FORMATS = /(^|,)(image2|\w+_pipe|gif|webp|apng|mjpeg)(,|$)/;
const PLAYLIST_FORMATS = /(^|,)(hls|applehttp|concat|dash|m3u8?)(,|$)/;

/**
 * Decoders ffmpeg/ffprobe may open (`-codec_whitelist`, decoder names, not codec names): the allowed codecs,
 * plus text subtitle decoders, because ffprobe opens a decoder for every stream and stops at the first refused
 * one (those streams are dropped from the output anyway). A refused decoder makes the probe fail.
 */
export const DECODERS = [
  'h264', 'hevc', 'vp8', 'libvpx', 'vp9', 'libvpx-vp9', 'av1', 'libdav1d', 'libaom-av1', 'mpeg4', 'h263',
  'aac', 'aac_fixed', 'opus', 'libopus', 'mp3', 'mp3float', 'amrnb', 'amrwb', 'libopencore_amrnb',
  'libopencore_amrwb', 'vorbis', 'libvorbis', 'ac3', 'ac3_fixed',
  'pcm_s16le', 'pcm_s16be', 'pcm_s24le', 'pcm_s24be', 'pcm_s32le', 'pcm_f32le', 'pcm_u8', 'pcm_mulaw', 'pcm_alaw',
  'mov_text', 'subrip', 'srt', 'ass', 'ssa', 'webvtt', 'text',
];

/** The top-level box types that start an MP4/MOV file (ffmpeg's mov demuxer recognises a file by them). */
export const MP4_LEAD_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot']);
const MAX_TOP_LEVEL_BOXES = 10_000;

/**
 * Whether a file that starts like an MP4/MOV has its index (a `moov`, or a `moof` in a fragmented file) among
 * its top-level boxes, found the way ffmpeg's mov demuxer looks: box after box by their sizes, until the end
 * of the file or a size that leaves it. Without one ffmpeg can only say "moov atom not found": the file was
 * cut off (a recording or an upload that stopped), and ffmpeg need not be started to learn that.
 * `header(offset)` returns up to 16 bytes of the file at `offset`. Null when the file does not start like an MP4.
 */
export function mp4HasIndex(header: (offset: number) => Buffer, size: number): boolean | null {
  let offset = 0;
  for (let n = 0; n < MAX_TOP_LEVEL_BOXES && offset + 8 <= size; n++) {
    const h = header(offset);
    if (h.length < 8) return false;
    const type = h.toString('latin1', 4, 8);
    if (n === 0 && !MP4_LEAD_BOXES.has(type)) return null;
    if (type === 'moov' || type === 'moof') return true;
    let boxSize = h.readUInt32BE(0);
    if (boxSize === 0) return false; // the last box, to the end of the file, and it is not the index
    if (boxSize === 1) {
      if (h.length < 16) return false;
      boxSize = Number(h.readBigUInt64BE(8));
      if (boxSize < 16) return false;
    } else if (boxSize < 8) return false;
    offset += boxSize;
  }
  return false;
}

// The output: at most 1080p in either orientation, at most 60 frames per second when re-encoded.
const BOX_LONG = 1920;
const BOX_SHORT = 1080;
const MAX_OUTPUT_FPS = 60;
const AAC_FRAME_SAMPLES = 1024;

const minutes = (s: number) => (s % 60 === 0 ? `${s / 60} minutes` : `${s} seconds`);
const mib = (b: number) => `${Math.round(b / (1024 * 1024))} MB`;

export function judgeVideo(info: VideoInfo, limits: VideoLimits): Verdict {
  const no = (reason: string): Verdict => ({ ok: false, reason });
  if (info.sizeBytes <= 0) return no('the file is empty');
  if (IMAGE_FORMATS.test(info.container)) return no('not a video');
  if (PLAYLIST_FORMATS.test(info.container)) return no('not a video');
  if (!CONTAINERS.has(info.container)) return no(`unsupported file type (${info.container})`);
  if (info.sizeBytes > limits.maxBytes) return no(`the file is too large (${mib(info.sizeBytes)})`);
  const v = info.video;
  if (!v) return no(info.audio ? 'not a video (sound only)' : 'not a video');
  if (IMAGE_CODECS.has(v.codec)) return no('not a video');
  if (!VIDEO_CODECS.has(v.codec)) return no(`unsupported video format (${v.codec})`);
  const a = info.audio;
  if (a && !AUDIO_CODECS.has(a.codec) && !PCM.test(a.codec)) return no(`unsupported sound format (${a.codec})`);
  const d = info.durationSeconds;
  if (d === null || !Number.isFinite(d) || d <= 0) return no('the length of the video cannot be read');
  if (d > limits.maxOriginalSeconds) return no(`longer than ${minutes(limits.maxOriginalSeconds)}`);
  if (info.streamCount > limits.maxStreams) return no(`the file has too many tracks (${info.streamCount})`);
  if (!(v.width > 0 && v.height > 0)) return no('the picture size cannot be read');
  const long = Math.max(v.width, v.height);
  const short = Math.min(v.width, v.height);
  if (long > Math.max(limits.maxWidth, limits.maxHeight) || short > Math.min(limits.maxWidth, limits.maxHeight)) {
    return no(`the picture is too large (${v.width}×${v.height})`);
  }
  if (short < 16) return no(`the picture is too small (${v.width}×${v.height})`);
  if (v.fps !== null && (!Number.isFinite(v.fps) || v.fps > limits.maxFps)) {
    return no(`the frame rate is too high (${Math.round(v.fps)} frames per second)`);
  }
  return { ok: true, plan: planFor(info, v, d, limits) };
}

function planFor(info: VideoInfo, v: NonNullable<VideoInfo['video']>, d: number, limits: VideoLimits): TranscodePlan {
  const sideways = v.rotation % 180 === 90;
  const scaleTo = fitBox(sideways ? v.height : v.width, sideways ? v.width : v.height);
  const fromMov = info.container === MOV_FAMILY;
  // Copy only what is already what browsers play, from the container whose timing we can trust to the frame.
  const copyVideo = fromMov && v.codec === 'h264' && v.pixFmt === 'yuv420p' && scaleTo === null;
  const a = info.audio;
  const copyAudio = a !== null && fromMov && a.codec === 'aac' && a.channels <= 2;
  const fps = !copyVideo && v.fps !== null && v.fps > MAX_OUTPUT_FPS + 0.5 ? MAX_OUTPUT_FPS : null;
  const trim = d > limits.maxSeconds;
  const frame = 1 / (fps ?? v.fps ?? 30);
  // With -t, ffmpeg keeps every packet that starts before the cut, so a copied stream overhangs it by up to one
  // packet: one frame of video (our tolerance) or one AAC frame of audio, which is longer than a video frame at
  // low sample rates or high frame rates. Cut that much earlier when copying audio. (B-frames can carry a copied
  // video further than a frame: judgeOutput sees that and asks for a re-encode.)
  const audioOverhang = copyAudio ? AAC_FRAME_SAMPLES / (a.sampleRate ?? 8000) : 0;
  const cutSeconds = trim ? round3(limits.maxSeconds - Math.max(0, audioOverhang - frame)) : limits.maxSeconds;
  return {
    trim,
    outputSeconds: Math.min(d, limits.maxSeconds),
    cutSeconds,
    toleranceSeconds: round3(frame),
    copyVideo,
    copyAudio,
    scaleTo,
    fps,
    hasAudio: a !== null,
    maxOutputBytes: limits.maxBytes,
  };
}

/** The largest even size within 1920×1080 (or 1080×1920 upright) that keeps the aspect; null if it fits already. */
function fitBox(w: number, h: number): { width: number; height: number } | null {
  const landscape = w >= h;
  const f = Math.min(1, (landscape ? BOX_LONG : BOX_SHORT) / w, (landscape ? BOX_SHORT : BOX_LONG) / h);
  const even = (x: number) => Math.max(2, 2 * Math.floor(x / 2));
  const width = even(Math.round(w * f));
  const height = even(Math.round(h * f));
  return width === w && height === h ? null : { width, height };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export type OutputCheck = { ok: true } | { ok: false; reason: string; cutOff: boolean; retry: TranscodePlan | null };

/**
 * Checks the transcoded file against its plan: MP4, H.264 (+ AAC), no longer than the plan allows, not much
 * shorter. A stream copy cut with -t keeps every packet that starts before the cut, and with B-frames a P-frame
 * displayed several frames later comes along (measured: 120.134 s for -t 120 at 15 fps with -bf 2), so a copy
 * that overshoots is redone as a re-encode, which cuts to the frame. A result much shorter than planned means the
 * original's media data ends early (cut off after its index).
 */
export function judgeOutput(info: VideoInfo, plan: TranscodePlan): OutputCheck {
  const no = (reason: string, retry: TranscodePlan | null = null, cutOff = false): OutputCheck => ({ ok: false, reason, cutOff, retry });
  const d = info.durationSeconds ?? 0;
  if (info.container !== MOV_FAMILY || info.video?.codec !== 'h264') return no('the result is not H.264 MP4');
  if (plan.hasAudio && info.audio?.codec !== 'aac') return no('the result has no AAC sound');
  if (d > plan.outputSeconds + plan.toleranceSeconds + 0.0005) {
    const copied = plan.copyVideo || plan.copyAudio;
    return no(`the result is ${d.toFixed(3)} s, longer than ${plan.outputSeconds} s`, copied ? withoutCopy(plan) : null);
  }
  if (d < plan.outputSeconds - Math.max(1, plan.outputSeconds * 0.02)) return no('the file is cut off', null, true);
  return { ok: true };
}

/** The same result by re-encoding everything: exact cuts, at the cost of time. */
export function withoutCopy(plan: TranscodePlan): TranscodePlan {
  return { ...plan, copyVideo: false, copyAudio: false, cutSeconds: plan.trim ? plan.outputSeconds : plan.cutSeconds };
}

/** Where to take the poster frame: a second in (the first frames of phone clips are often dark), or halfway. */
export function posterSeconds(durationSeconds: number): number {
  return round3(Math.min(1, durationSeconds / 2));
}

// Every input is opened as `file:` with protocols, demuxers and decoders restricted: a playlist (HLS, ffconcat,
// an HLS list hidden in an AVI subtitle) cannot make ffmpeg open anything else, and nothing is decoded by a
// decoder we do not need.
const GUARDS = ['-protocol_whitelist', 'file', '-format_whitelist', DEMUXERS.join(','), '-codec_whitelist', DECODERS.join(',')];
const inputArgs = (input: string) => [...GUARDS, '-i', `file:${input}`];

export function probeArgs(input: string): string[] {
  return [
    '-hide_banner', '-loglevel', 'error',
    ...GUARDS,
    '-show_entries',
    'format=format_name,duration,size:stream=index,codec_type,codec_name,width,height,pix_fmt,avg_frame_rate,' +
      'r_frame_rate,channels,sample_rate:stream_disposition=attached_pic:stream_side_data=rotation',
    '-of', 'json',
    `file:${input}`,
  ];
}

// No metadata of any kind survives: global, stream and chapter metadata are not copied, and bitexact keeps
// the muxer and encoders from writing their own (encoder name, creation time).
const STRIP = ['-map_metadata', '-1', '-map_chapters', '-1', '-sn', '-dn', '-fflags', '+bitexact'];

export function ffmpegArgs(input: string, output: string, plan: TranscodePlan): string[] {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', ...inputArgs(input)];
  // V, not v: a cover picture is a video stream too.
  args.push('-map', '0:V:0', '-map', '0:a:0?', ...STRIP, '-t', String(plan.cutSeconds));
  if (plan.copyVideo) {
    // SEI units carry encoder settings and any user data a device put there, and -map_metadata does not touch
    // the bitstream: drop them all (an MP4 needs none of them to play).
    args.push('-c:v', 'copy', '-bsf:v', 'filter_units=remove_types=6');
  } else {
    const filters = [
      ...(plan.fps ? [`fps=${plan.fps}`] : []),
      ...(plan.scaleTo ? [`scale=${plan.scaleTo.width}:${plan.scaleTo.height}`] : []),
    ];
    if (filters.length) args.push('-vf', filters.join(','));
    // Capped CRF: the usual quality, but a noisy or hostile input cannot balloon the bitrate.
    args.push(
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-maxrate', '8M', '-bufsize', '16M',
      '-pix_fmt', 'yuv420p', '-flags:v', '+bitexact', '-fps_mode', 'passthrough',
    );
  }
  if (plan.hasAudio) {
    if (plan.copyAudio) args.push('-c:a', 'copy');
    else args.push('-c:a', 'aac', '-b:a', '128k', '-ac', '2', '-flags:a', '+bitexact');
  }
  args.push('-movflags', '+faststart', '-fs', String(plan.maxOutputBytes), '-f', 'mp4', '-y', `file:${output}`);
  return args;
}

export function posterArgs(input: string, output: string, atSeconds: number): string[] {
  // Fit within 1920×1080 (1080×1920 upright), even sizes; a no-op for our own ≤1080p output.
  const fit =
    "scale=w='if(gte(iw\\,ih)\\,min(iw\\,1920)\\,min(iw\\,1080))':h='if(gte(iw\\,ih)\\,min(ih\\,1080)\\,min(ih\\,1920))'" +
    ':force_original_aspect_ratio=decrease:force_divisible_by=2';
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats',
    '-ss', String(atSeconds),
    ...inputArgs(input),
    '-map', '0:V:0', ...STRIP, '-an',
    '-frames:v', '1', '-vf', fit,
    '-c:v', 'mjpeg', '-q:v', '3', '-flags:v', '+bitexact',
    '-f', 'image2', '-update', '1', '-y', `file:${output}`,
  ];
}
