// Runs a child process and measures it: wall time (measured here, around spawn..exit) and peak RSS.
// Peak RSS comes from GNU time (`/usr/bin/time -v`: the child's ru_maxrss, read by wait4 after it exits, so it
// misses nothing); without GNU time, from polling /proc/<pid>/status VmHWM (the kernel's own high-water mark)
// every 20 ms while the child lives.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';

export interface Measured {
  code: number;
  wallMs: number;
  maxRssKb: number;
  userS: number | null;
  sysS: number | null;
  voluntaryCtxSwitches: number | null;
  fsOutputs: number | null;
  rssSource: 'gnu-time' | 'proc-vmhwm';
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';
export const haveGnuTime = (() => {
  try {
    fs.accessSync(GNU_TIME, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

function field(text: string, label: string): number | null {
  const m = new RegExp(`${label.replace(/[()]/g, '\\$&')}:\\s*([0-9.]+)`).exec(text);
  return m ? Number(m[1]) : null;
}

/** Reads VmHWM (peak RSS, kB) of a live process; null once it is gone. */
function vmHwm(pid: number): number | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(s);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export async function measure(
  argv: string[],
  opts: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs?: number },
): Promise<Measured> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-time-'));
  const timeFile = path.join(tmp, 'time.txt');
  const [cmd, ...rest] = haveGnuTime ? [GNU_TIME, '-v', '-o', timeFile, ...argv] : argv;
  const t0 = performance.now();
  const child = spawn(cmd, rest, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => {
    err.push(d);
    if (err.length > 2000) err.splice(0, 1000); // keep the tail only
  });
  let hwm = 0;
  const poll = haveGnuTime
    ? null
    : setInterval(() => {
        const v = child.pid ? vmHwm(child.pid) : null;
        if (v !== null && v > hwm) hwm = v;
      }, 20);
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        if (child.pid) process.kill(child.pid, 'SIGKILL');
      }, opts.timeoutMs)
    : null;
  const code: number = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
  });
  const wallMs = performance.now() - t0;
  if (poll) clearInterval(poll);
  if (timer) clearTimeout(timer);
  let maxRssKb = hwm;
  let userS: number | null = null;
  let sysS: number | null = null;
  let vcs: number | null = null;
  let fsOut: number | null = null;
  if (haveGnuTime) {
    const t = fs.existsSync(timeFile) ? fs.readFileSync(timeFile, 'utf8') : '';
    maxRssKb = field(t, 'Maximum resident set size (kbytes)') ?? 0;
    userS = field(t, 'User time (seconds)');
    sysS = field(t, 'System time (seconds)');
    vcs = field(t, 'Voluntary context switches');
    fsOut = field(t, 'File system outputs');
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return {
    code,
    wallMs,
    maxRssKb,
    userS,
    sysS,
    voluntaryCtxSwitches: vcs,
    fsOutputs: fsOut,
    rssSource: haveGnuTime ? 'gnu-time' : 'proc-vmhwm',
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

/** A clean environment for an `intake` child: only what the benchmark sets, plus PATH/HOME/TMPDIR. */
export function childEnv(vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) if (process.env[k]) env[k] = process.env[k];
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = v;
  return env;
}
