// ffprobe and ffmpeg as a MediaTool: the one place that starts them. The command lines come from the pure
// core (src/core/video-policy.ts); this file finds the binaries, runs them in a process group of their own with a
// timeout that kills the whole group, writes through a temporary file, and turns ffprobe's JSON into VideoInfo.
//
// fluent-ffmpeg (2.1.3, archived upstream in May 2025) lives in this file only, and only runs ffmpeg (transcode
// and poster): our argv goes in as its input and output options, and its `run()` spawns, collects the output
// and reports the exit. What it does not do, we do around it, because its defaults would break a guarantee:
// - It spawns without `detached` and its `timeout` sends SIGTERM to the child alone (ffmpeg then finishes the
//   file). So the binary it starts is `setpriv --pdeathsig KILL -- setsid <ffmpeg>`: util-linux execs each in
//   turn under the same pid, so ffmpeg dies with us even on SIGKILL and leads a process group of its own, and
//   our own timer and AbortSignal kill that group with SIGKILL. (setpriv's options ride in front of ours as the
//   first input's options; the 'start' event's command line is checked against the argv we built, and a run
//   whose argv differs is killed at once.)
// - Before its first run it lists ffmpeg's formats and encoders (`ffmpeg -formats`, `-encoders`); those would
//   run the wrapper with the wrong options, so they are run once beforehand with the plain binary (they read
//   no input), and fluent keeps the answer.
// - A 'progress' listener makes it run a second, plain ffprobe on the input with none of our options (no
//   protocol or format allow-list: it would read the file an HLS playlist points at). We never attach one:
//   progress is read from `-progress pipe:1` on ffmpeg's stdout.
// - Its ffprobe() has no timeout and no handle to kill it with, so ffprobe (and `-version`) run on our own
//   spawn below, with the same group kill and parent-death signal.
// - Its setFfmpegPath() is one global for the process: it always names the same wrapper here, so two
//   MediaTools with different binaries do not disturb each other (the binary is in the argv).
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { importEsm } from '../runtime/loader.ts';
import {
  ffmpegArgs,
  judgeOutput,
  mp4HasIndex,
  MP4_LEAD_BOXES,
  posterArgs,
  probeArgs,
  type TranscodePlan,
  type VideoInfo,
} from '../core/video-policy.ts';

/** UNAVAILABLE: ffmpeg itself is missing (not installed, or a configured path that is wrong): no fault of the file. */
export type MediaErrorCode = 'NOT_MEDIA' | 'TRUNCATED' | 'TIMEOUT' | 'FAILED' | 'UNAVAILABLE';

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  /** Plain words for staff when the video is rejected because of this ("not a video", "the file is cut off"). */
  readonly reason: string;
  /** NOT_MEDIA and TRUNCATED are properties of the file: trying again gives the same answer. */
  readonly retryable: boolean;
  /** The tail of ffmpeg's stderr, for logs at debug level (it may quote the file's metadata). */
  readonly stderr: string;
  constructor(code: MediaErrorCode, reason: string, opts: { detail?: string; retryable?: boolean; stderr?: string; cause?: unknown } = {}) {
    super(opts.detail ? `${reason}: ${opts.detail}` : reason, { cause: opts.cause });
    this.name = 'MediaError';
    this.code = code;
    this.reason = reason;
    this.retryable = opts.retryable ?? (code === 'TIMEOUT' || code === 'FAILED' || code === 'UNAVAILABLE');
    this.stderr = opts.stderr ?? '';
  }
}

export type BinarySource = 'env' | 'path' | 'bundled';

export interface MediaVersion {
  ffmpeg: string;
  ffprobe: string;
  /** The least trusted of the two binaries' sources (env, then path, then bundled). */
  source: BinarySource;
  ffmpegPath: string;
  ffprobePath: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Aborting kills the process group and removes the temporary output (daemon shutdown). */
  signal?: AbortSignal;
}

export interface TranscodeResult {
  /** The plan that produced the file: the one given, or its re-encoding when a stream copy came out too long. */
  plan: TranscodePlan;
  /** The result as ffprobe sees it (durationSeconds is the `seconds` of the item). */
  info: VideoInfo;
}

export interface MediaTool {
  probe(file: string, opts?: RunOptions): Promise<VideoInfo>;
  /** Writes `output` only if the result passes judgeOutput: at most the plan's length, H.264/AAC MP4. */
  transcode(input: string, output: string, plan: TranscodePlan, opts?: RunOptions & { onProgress?: (seconds: number) => void }): Promise<TranscodeResult>;
  poster(input: string, output: string, atSeconds: number, opts?: RunOptions): Promise<void>;
  version(): Promise<MediaVersion>;
}

export interface MediaToolOptions {
  /** FFMPEG_PATH / FFPROBE_PATH from the configuration. */
  ffmpegPath?: string;
  ffprobePath?: string;
  log?: { warn(obj: object, msg: string): void };
}

const DEFAULT_TIMEOUT_MS = { probe: 30_000, transcode: 10 * 60_000, poster: 60_000, version: 10_000 };
const STDOUT_CAP = 4 * 1024 * 1024;
const STDERR_TAIL = 8 * 1024;

/**
 * Only paths of ours reach argv: absolute (so no option parser takes one for an option), no `.` or `..`
 * segment, no control character. Spaces and letters of any script are fine: the data directory is wherever
 * staff put it ("/home/farida/Кампания 2026/data"), argv goes to ffmpeg without a shell, and every path is
 * given to ffmpeg as `file:<path>` under a file-only protocol allow-list, so a `concat:` or `http:` inside a
 * name is only part of a file name.
 */
const CONTROL = /[\u0000-\u001f\u007f]/;
export function assertSafePath(p: string): void {
  if (!p.startsWith('/') || CONTROL.test(p) || p.split('/').some((seg) => seg === '.' || seg === '..') || p.endsWith('/')) {
    throw new MediaError('FAILED', 'refusing a path that is not one of ours', { detail: JSON.stringify(p), retryable: false });
  }
}

export function makeMediaTool(opts: MediaToolOptions = {}): MediaTool {
  let binaries: Promise<Binaries> | undefined;
  const bins = () => (binaries ??= resolveBinaries(opts).catch((err) => {
    binaries = undefined; // let a later call try again (ffmpeg installed meanwhile)
    throw err;
  }));

  const probe = async (file: string, timeoutMs: number, signal?: AbortSignal): Promise<VideoInfo> => {
    const size = fileSize(file);
    if (size === 0) throw new MediaError('NOT_MEDIA', 'the file is empty', { retryable: false });
    // An MP4 without its index is answered here: ffprobe would say "moov atom not found" ~70 ms later.
    if (mp4IndexOf(file, size) === false)
      throw new MediaError('TRUNCATED', 'the file is cut off', { detail: 'no moov box among the top-level boxes', retryable: false });
    const r = await run((await bins()).ffprobe.path, probeArgs(file), timeoutMs, signal);
    if (r.outcome !== 'exit' || r.code !== 0) {
      const err = failure(r, 'probe');
      // ffmpeg falls back on the .mp4 name and then misses the index in anything: a text file too. Only a
      // file that starts like an MP4 and has no index is one that was cut off.
      if (err.code === 'TRUNCATED' && !looksLikeMp4(file)) {
        throw new MediaError('NOT_MEDIA', 'not a video', { detail: err.message, retryable: false, stderr: err.stderr });
      }
      throw err;
    }
    return toVideoInfo(r.stdout, size);
  };

  return {
    async probe(file, o = {}) {
      assertSafePath(file);
      return probe(file, o.timeoutMs ?? DEFAULT_TIMEOUT_MS.probe, o.signal);
    },

    async transcode(input, output, plan, o = {}) {
      assertSafePath(input);
      assertSafePath(output);
      const deadline = Date.now() + (o.timeoutMs ?? DEFAULT_TIMEOUT_MS.transcode);
      const left = () => Math.max(1, deadline - Date.now());
      let last = -1;
      const onLine = (line: string) => {
        // Progress is the output's time so far ("timemark"): a percentage of the input would stop at 20% on a trim.
        const m = /^out_time_(?:us|ms)=(\d+)$/.exec(line);
        if (m && o.onProgress) {
          const s = Number(m[1]) / 1e6;
          if (s > last) o.onProgress((last = s));
        }
      };
      let result: TranscodeResult | undefined;
      await viaTemp(output, async (tmp) => {
        let p = plan;
        for (let attempt = 1; ; attempt++) {
          const r = await runFfmpeg((await bins()).ffmpeg.path, ffmpegArgs(input, tmp, p), left(), o.signal, onLine);
          if (r.outcome !== 'exit' || r.code !== 0) throw failure(r, 'transcode');
          // An MP4 whose index is whole but whose data ends early: ffmpeg says so and still exits 0.
          if (/partial file/.test(r.stderr)) {
            throw new MediaError('TRUNCATED', 'the file is cut off', { detail: 'the media data ends early', retryable: false, stderr: r.stderr });
          }
          // -fs ends the file quietly when it reaches the cap: a result that large is a cut, not a success.
          if (fileSize(tmp) >= p.maxOutputBytes * 0.99) {
            throw new MediaError('FAILED', 'the result would be larger than the size limit', { retryable: false });
          }
          const info = await probe(tmp, Math.min(left(), DEFAULT_TIMEOUT_MS.probe), o.signal);
          const check = judgeOutput(info, p);
          if (check.ok) return void (result = { plan: p, info });
          if (!check.retry || attempt > 1) {
            throw new MediaError(check.cutOff ? 'TRUNCATED' : 'FAILED', check.reason, { retryable: false });
          }
          p = check.retry; // a stream copy that came out too long: once more, re-encoding
        }
      });
      return result!;
    },

    async poster(input, output, atSeconds, o = {}) {
      assertSafePath(input);
      assertSafePath(output);
      await viaTemp(output, async (tmp) => {
        // Seeking can land where nothing decodes (past the end; an MPEG-TS with no keyframe after the point):
        // ffmpeg then succeeds and writes nothing. Take the first frame instead.
        for (const at of atSeconds > 0 ? [atSeconds, 0] : [0]) {
          const r = await runFfmpeg((await bins()).ffmpeg.path, posterArgs(input, tmp, at), o.timeoutMs ?? DEFAULT_TIMEOUT_MS.poster, o.signal);
          if (r.outcome !== 'exit' || r.code !== 0) throw failure(r, 'poster');
          if (fs.existsSync(tmp) && fs.statSync(tmp).size > 0) return;
        }
        throw new MediaError('FAILED', 'no picture in the video', { retryable: false });
      });
    },

    async version() {
      const b = await bins();
      // Also the moment to let fluent-ffmpeg list ffmpeg's formats, once, rather than before the first video.
      await fluentCapabilities(b.ffmpeg.path, DEFAULT_TIMEOUT_MS.version).catch(() => {});
      const line = async (bin: string) => {
        const r = await run(bin, ['-hide_banner', '-version'], DEFAULT_TIMEOUT_MS.version);
        if (r.outcome !== 'exit' || r.code !== 0) throw failure(r, 'version');
        return /version (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split('\n')[0];
      };
      const rank: BinarySource[] = ['env', 'path', 'bundled'];
      return {
        ffmpeg: await line(b.ffmpeg.path),
        ffprobe: await line(b.ffprobe.path),
        source: rank[Math.max(rank.indexOf(b.ffmpeg.source), rank.indexOf(b.ffprobe.source))],
        ffmpegPath: b.ffmpeg.path,
        ffprobePath: b.ffprobe.path,
      };
    },
  };
}

// ---- finding the binaries -------------------------------------------------------------------------------------

interface Binary {
  path: string;
  source: BinarySource;
}
interface Binaries {
  ffmpeg: Binary;
  ffprobe: Binary;
}

const BUNDLED = { ffmpeg: '@ffmpeg-installer/ffmpeg', ffprobe: '@ffprobe-installer/ffprobe' } as const;

async function resolveBinaries(opts: MediaToolOptions): Promise<Binaries> {
  return {
    ffmpeg: await findBinary('ffmpeg', opts.ffmpegPath, opts.log),
    ffprobe: await findBinary('ffprobe', opts.ffprobePath, opts.log),
  };
}

async function findBinary(name: 'ffmpeg' | 'ffprobe', configured: string | undefined, log: MediaToolOptions['log']): Promise<Binary> {
  if (configured) return { path: configured, source: 'env' };
  const found = onPath(name);
  if (found) return { path: found, source: 'path' };
  // Optional packages, not dependencies: imported by a name TypeScript does not resolve.
  const pkg: string = BUNDLED[name];
  try {
    const mod = await importEsm<{ default?: { path?: string; version?: string }; path?: string; version?: string }>(pkg);
    const p = mod.default?.path ?? mod.path;
    if (p && fs.existsSync(p)) {
      // The platform package sets the execute bit in a postinstall script, which npm here does not run.
      ensureExecutable(p);
      log?.warn(
        { binary: name, package: pkg, version: mod.default?.version ?? mod.version },
        `no ${name} on PATH: using the one bundled in ${pkg}, an old build without security fixes; ` +
          `install ffmpeg (apt-get install ffmpeg) or set ${name.toUpperCase()}_PATH`,
      );
      return { path: p, source: 'bundled' };
    }
  } catch {
    // not installed
  }
  throw new MediaError('UNAVAILABLE', `${name} not found`, {
    detail: `set ${name.toUpperCase()}_PATH, install ffmpeg, or install ${pkg}`,
  });
}

function ensureExecutable(file: string): void {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    fs.chmodSync(file, fs.statSync(file).mode | 0o755);
  }
}

/** PATH lookup as the shell does it, so `intake doctor` can say which binary runs. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

// ---- running a process ----------------------------------------------------------------------------------------

interface RunResult {
  outcome: 'exit' | 'timeout' | 'aborted' | 'spawn_error' | 'too_much_output' | 'not_our_argv';
  code: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

/** Groups still running: killed when this process exits normally (a SIGKILL of ours is covered by pdeathsig). */
const live = new Set<number>();
let exitHook = false;
const killGroup = (pid: number) => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

// On Linux, util-linux's setpriv sets the parent-death signal and then execs the binary (same pid): if the daemon
// itself is killed with SIGKILL, the kernel kills ffmpeg too, although it runs in a process group of its own.
let setpriv: string | null | undefined;

function run(bin: string, args: string[], timeoutMs: number, signal?: AbortSignal, onLine?: (line: string) => void): Promise<RunResult> {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => live.forEach(killGroup));
  }
  if (setpriv === undefined) setpriv = process.platform === 'linux' ? onPath('setpriv') : null;
  const [cmd, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args];

  return new Promise((resolve) => {
    let outcome: RunResult['outcome'] = 'exit';
    let stdout = '';
    let stderr = '';
    let pending = '';
    if (signal?.aborted) return resolve({ outcome: 'aborted', code: null, stdout, stderr });
    // detached: the child leads a new process group, so one kill reaches everything it started.
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid;
    const stop = (why: RunResult['outcome']) => {
      if (outcome === 'exit') outcome = why;
      if (pid) killGroup(pid);
    };
    if (pid) live.add(pid);
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    const onAbort = () => stop('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (onLine) {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) onLine(l.trim());
      } else if ((stdout += chunk).length > STDOUT_CAP) {
        stop('too_much_output');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
      if (outcome === 'exit') outcome = 'spawn_error';
    });
    // 'close' comes after the exit and after both pipes closed: nothing of the group is left writing.
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (pid) live.delete(pid);
      resolve({ outcome, code, stdout, stderr, error: spawnError });
    });
  });
}

// ---- ffmpeg through fluent-ffmpeg ------------------------------------------------------------------------------

/** fluent-ffmpeg, loaded when a video is first handled: a run with no video does without it. */
let fluentModule: typeof import('fluent-ffmpeg') | undefined;
const fluent = () => (fluentModule ??= createRequire(import.meta.url)('fluent-ffmpeg') as typeof import('fluent-ffmpeg'));

let setsid: string | null | undefined;
let capabilities: Promise<void> | undefined;

/** What fluent starts instead of ffmpeg: setpriv (parent-death signal) and setsid (a group of its own). */
function wrapperFor(bin: string): { cmd: string; prefix: string[] } {
  if (setpriv === undefined) setpriv = process.platform === 'linux' ? onPath('setpriv') : null;
  if (setsid === undefined) setsid = process.platform === 'linux' ? onPath('setsid') : null;
  if (!setpriv) return setsid ? { cmd: setsid, prefix: [bin] } : { cmd: bin, prefix: [] };
  return { cmd: setpriv, prefix: ['--pdeathsig', 'KILL', '--', ...(setsid ? [setsid] : []), bin] };
}

/** fluent looks up ffmpeg's formats and encoders before its first run; it asks the plain binary once, here. */
function fluentCapabilities(bin: string, timeoutMs: number): Promise<void> {
  capabilities ??= new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ffmpeg -formats took more than ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error | null) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const ffmpeg = fluent();
    ffmpeg.setFfmpegPath(bin);
    ffmpeg.getAvailableFormats((err) => (err ? done(err) : ffmpeg.getAvailableEncoders((err2) => done(err2))));
  }).catch((err: unknown) => {
    capabilities = undefined;
    throw err;
  });
  return capabilities;
}

/** Runs ffmpeg with this argv (from the core: options, `-i <input>`, options, `<output>`) through fluent-ffmpeg. */
async function runFfmpeg(bin: string, args: string[], timeoutMs: number, signal?: AbortSignal, onLine?: (line: string) => void): Promise<RunResult> {
  const deadline = Date.now() + timeoutMs;
  if (signal?.aborted) return { outcome: 'aborted', code: null, stdout: '', stderr: '' };
  try {
    await fluentCapabilities(bin, Math.min(timeoutMs, DEFAULT_TIMEOUT_MS.version));
  } catch (err) {
    return { outcome: 'spawn_error', code: null, stdout: '', stderr: '', error: err as Error };
  }
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => live.forEach(killGroup));
  }
  const { cmd, prefix } = wrapperFor(bin);
  const i = args.indexOf('-i');
  if (i < 0 || args.indexOf('-i', i + 1) >= 0) throw new MediaError('FAILED', 'refusing a command line that is not ours', { retryable: false });

  return new Promise((resolve) => {
    let outcome: RunResult['outcome'] = 'exit';
    let pid: number | undefined;
    let pending = '';
    // Spread, not an array: fluent splits a lone "option value" string on its space, never separate arguments.
    const ffmpeg = fluent();
    const command = ffmpeg({ stdoutLines: 100 })
      .input(args[i + 1])
      .inputOptions(...prefix, ...args.slice(0, i))
      .output(args[args.length - 1])
      .outputOptions(...args.slice(i + 2, -1));
    const stop = (why: RunResult['outcome']) => {
      if (outcome === 'exit') outcome = why;
      if (pid) killGroup(pid);
    };
    const timer = setTimeout(() => stop('timeout'), Math.max(1, deadline - Date.now()));
    const onAbort = () => stop('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort(); // while fluent's checks ran

    command.on('start', (line: string) => {
      const proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      pid = proc?.pid;
      if (pid) live.add(pid);
      // Exactly the binary and argv we built, or nothing runs.
      if (proc?.spawnfile !== cmd || line !== `ffmpeg ${[...prefix, ...args].join(' ')}`) stop('not_our_argv');
      else if (outcome !== 'exit') stop(outcome); // the timeout or an abort came while fluent was preparing
      proc?.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        if (!onLine) return;
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) onLine(l.trim());
      });
    });
    // fluent reports the end after the exit and after both pipes closed: nothing of the group is left writing.
    const done = (code: number | null, stderr: string | null | undefined, error?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (pid) live.delete(pid);
      if (error && !pid && outcome === 'exit') outcome = 'spawn_error';
      resolve({ outcome, code, stdout: '', stderr: (stderr ?? '').slice(-STDERR_TAIL), error });
    };
    command.on('end', (_stdout: string | null, stderr: string | null) => done(0, stderr));
    command.on('error', (err: Error & { code?: string }, _stdout: string | null, stderr: string | null) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') outcome = outcome === 'exit' ? 'spawn_error' : outcome;
      const exit = /ffmpeg exited with code (\d+)/.exec(err.message);
      done(exit ? Number(exit[1]) : null, stderr, err);
    });
    ffmpeg.setFfmpegPath(cmd); // read synchronously when run() spawns, after the checks
    command.run();
  });
}

function failure(r: RunResult, what: string): MediaError {
  const stderr = r.stderr.trim();
  const last = stderr.replace(/ on whitelist '[^']*'/g, ' on the allow-list').split('\n').slice(-3).join(' | ');
  switch (r.outcome) {
    case 'timeout':
      return new MediaError('TIMEOUT', 'the file took too long to process', { detail: `${what} killed at its timeout`, stderr });
    case 'aborted':
      return new MediaError('FAILED', 'stopped', { detail: `${what} aborted`, stderr });
    case 'spawn_error': {
      const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
      // Not there, or not executable: ffmpeg is missing, which no retry of this file can change.
      if (code === 'ENOENT' || code === 'EACCES')
        return new MediaError('UNAVAILABLE', 'could not start ffmpeg', { detail: r.error?.message, cause: r.error });
      return new MediaError('FAILED', 'could not start ffmpeg', { detail: r.error?.message, cause: r.error });
    }
    case 'not_our_argv':
      return new MediaError('FAILED', 'refusing a command line that is not ours', { detail: `${what}: fluent-ffmpeg changed the argv`, retryable: false });
    case 'too_much_output':
      return new MediaError('NOT_MEDIA', 'not a video', { detail: `${what}: ffprobe printed too much`, retryable: false });
  }
  // Our wrappers (setpriv, setsid) could not exec the binary: it is missing or not executable.
  if ((r.code === 127 || r.code === 126) && /(?:setpriv|setsid): failed to execute/.test(stderr)) {
    return new MediaError('UNAVAILABLE', 'could not start ffmpeg', { detail: last, stderr });
  }
  // What ffmpeg says about a file it cannot or may not read: properties of the file, not worth a retry.
  if (/moov atom not found|partial file|Truncating packet|error reading header/i.test(stderr)) {
    return new MediaError('TRUNCATED', 'the file is cut off', { detail: last, retryable: false, stderr });
  }
  const codec = /Codec \((\S+)\) not on whitelist/.exec(stderr);
  if (codec) return new MediaError('NOT_MEDIA', `unsupported format (${codec[1]})`, { detail: last, retryable: false, stderr });
  if (/not on whitelist|Invalid data found|could not find codec parameters|Unknown input format|End of file/i.test(stderr)) {
    return new MediaError('NOT_MEDIA', 'not a video', { detail: last, retryable: false, stderr });
  }
  return new MediaError('FAILED', `${what} failed`, { detail: `exit ${r.code}: ${last}`, stderr });
}

// ---- files ----------------------------------------------------------------------------------------------------

/** Size of a regular file of ours; a missing one is a failure (the original is kept: someone removed it). */
function fileSize(file: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new MediaError('FAILED', 'the file is missing', { detail: (err as Error).message, retryable: false, cause: err });
  }
  if (!st.isFile()) throw new MediaError('FAILED', 'not a regular file', { detail: file, retryable: false });
  return st.size;
}

/** Writes `<output>.part` and renames it into place, fsynced; the temporary file never outlives a failure. */
async function viaTemp(output: string, work: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${output}.part`;
  try {
    await work(tmp);
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, output);
    const dir = fs.openSync(path.dirname(output), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function looksLikeMp4(file: string): boolean {
  const head = Buffer.alloc(8);
  const fd = fs.openSync(file, 'r');
  try {
    return fs.readSync(fd, head, 0, 8, 0) === 8 && MP4_LEAD_BOXES.has(head.toString('latin1', 4, 8));
  } finally {
    fs.closeSync(fd);
  }
}

/** mp4HasIndex over a file: box headers read where they start (a handful of 16-byte reads). */
function mp4IndexOf(file: string, size: number): boolean | null {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(16);
    return mp4HasIndex((offset) => buf.subarray(0, fs.readSync(fd, buf, 0, 16, offset)), size);
  } finally {
    fs.closeSync(fd);
  }
}

// ---- ffprobe JSON -> VideoInfo --------------------------------------------------------------------------------

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  channels?: number;
  sample_rate?: string;
  disposition?: { attached_pic?: number };
  side_data_list?: Array<{ rotation?: number }>;
}

function toVideoInfo(json: string, sizeBytes: number): VideoInfo {
  let data: { format?: { format_name?: string; duration?: string }; streams?: ProbeStream[] };
  try {
    data = JSON.parse(json);
  } catch (err) {
    throw new MediaError('FAILED', 'ffprobe printed something unreadable', { cause: err });
  }
  const streams = data.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const a = streams.find((s) => s.codec_type === 'audio');
  const duration = Number(data.format?.duration);
  const rotation = v?.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation ?? 0;
  return {
    container: data.format?.format_name ?? 'unknown',
    durationSeconds: Number.isFinite(duration) ? duration : null,
    sizeBytes,
    video: v
      ? {
          codec: v.codec_name ?? 'unknown',
          width: v.width ?? 0,
          height: v.height ?? 0,
          fps: rate(v.avg_frame_rate) ?? rate(v.r_frame_rate),
          rotation: (((Math.round(rotation / 90) * 90) % 360) + 360) % 360,
          pixFmt: v.pix_fmt ?? null,
        }
      : null,
    audio: a
      ? { codec: a.codec_name ?? 'unknown', channels: a.channels ?? 0, sampleRate: Number(a.sample_rate) || null }
      : null,
    streamCount: streams.length,
    otherStreams: streams.filter((s) => s !== v && s !== a).map((s) => s.codec_type ?? 'unknown'),
  };
}

function rate(r: string | undefined): number | null {
  const m = /^(\d+)\/(\d+)$/.exec(r ?? '');
  if (!m || Number(m[2]) === 0 || Number(m[1]) === 0) return null;
  return Number(m[1]) / Number(m[2]);
}
