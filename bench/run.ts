// `npm run bench`: ingest throughput (Dovecot -> PostgreSQL) against a bare imapflow + mailparser baseline,
// and the peak memory of `intake import` on a message with a 200 MiB attachment (PostgreSQL and PGlite).
// Results are ratios measured in the same run; absolute times on a shared 2-core machine mean little.
//
//   npm run bench -- [--n 2000] [--runs 2] [--seed 20261208] [--big-mb 200] [--skip-ingest] [--skip-big] [--skip-video] [--skip-digest]
//                    [--attribution] [--profile] [--keep] [--tree worktree|<git rev>] [--compare <tree>]...
//
// --attribution (off by default: single runs, and on a busy machine their noise exceeds the effects): the
// pipeline again with its data dir on tmpfs and/or synchronous_commit=off, and the baseline with serial
// download() calls in 4 MiB chunks, to show where the time goes. (The 64 KiB serial download() diagnostic
// always runs.) In the pipeline attribution rows the
// baseline column and the ratio are against the best normal pipeline run; in the diag rows, against the best
// baseline. --profile adds a run under --cpu-prof (profiles in bench/out/prof) and prints a summary.
//
// --compare <tree> (repeatable): run the pipeline of another tree too, in every round, after the main one:
//   npm run bench -- --tree HEAD --compare HEAD+bench/proposals/overlap-stages.patch
// --tree: which code the `intake` children run. `worktree` (default) is src/ as it is now; a git revision
// (e.g. HEAD) is exported with `git archive` to a temp dir (node_modules linked) so that a measurement is not
// disturbed by half-finished edits in the working tree; a directory holding a checkout (src/cli.ts) is run
// as it is (how the prototypes in bench/proposals/ were measured). The report records which.
//
// Needs: PostgreSQL (TEST_DATABASE_URL, else postgres://root@127.0.0.1:5432/postgres; a fresh database is
// created per measured run and dropped afterwards) and Dovecot (TEST_IMAP_URL + DOVECOT_CONF when set; else
// this script starts its own instance with ci/dovecot-start.sh in /tmp/intake-bench-dovecot on a free port,
// so a Dovecot that the test suites are using is never restarted, and stops it at the end).
// Every `intake` command runs as a child process under /usr/bin/time -v (peak RSS = ru_maxrss of the child);
// see bench/proc.ts. Writes bench/out/latest.json (and a copy as bench/out/run-<timestamp>.json).
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { generateMessages, writeBigMessage, type MixSummary } from './gen.ts';
import { measure, childEnv, haveGnuTime, type Measured } from './proc.ts';
import { summarize, printSummary, type ProfileSummary } from './profile-summary.ts';
import { watchServerCpu, type ServerCpu } from './cpu.ts';
import { benchVideo } from './video.ts';
import { benchDigest } from './digest.ts';
import { dovecotSaveMany, dovecotMailboxStatus, dovecotDeleteMailbox } from '../tests/helpers/dovecot.ts';
import type { BenchRow } from './row.ts';

pg.types.setTypeParser(20, (v) => Number(v));

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = path.join(ROOT, 'bench', 'out');
const MiB = 1024 * 1024;

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '2' },
    seed: { type: 'string', default: '20261208' },
    'big-mb': { type: 'string', default: '200' },
    'skip-ingest': { type: 'boolean', default: false },
    'skip-big': { type: 'boolean', default: false },
    'skip-video': { type: 'boolean', default: false },
    'skip-digest': { type: 'boolean', default: false },
    attribution: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    tree: { type: 'string', default: 'worktree' },
    compare: { type: 'string', multiple: true, default: [] },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  const src = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  console.log(src.slice(0, src.findIndex((l) => l.startsWith('import '))).join('\n'));
  process.exit(0);
}
const N = Number(opt.n);
const RUNS = Math.max(1, Number(opt.runs));
const SEED = Number(opt.seed);
const BIG_BYTES = Math.round(Number(opt['big-mb']) * MiB);
const STAMP = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), `intake-bench-${STAMP}-`));
const CHILD_TIMEOUT = 15 * 60_000;

let CODE_ROOT = ROOT;
let COMPARE_TREES: Array<{ spec: string; root: string; desc: Record<string, unknown>; runs: PipelineRun[] }> = [];
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
const cleanups: Array<{ what: string; fn: () => Promise<void> | void }> = [];
const mb = (kb: number) => Math.round(kb / 1024);
const secs = (ms: number) => Math.round(ms / 10) / 100;

// ---- servers ----------------------------------------------------------------------------------------------

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function ensureDovecot(): Promise<{ imapUrl: string; started: boolean }> {
  if (process.env.TEST_IMAP_URL) {
    log(`using the Dovecot at TEST_IMAP_URL (DOVECOT_CONF=${process.env.DOVECOT_CONF ?? '(default)'})`);
    return { imapUrl: process.env.TEST_IMAP_URL, started: false };
  }
  const dir = '/tmp/intake-bench-dovecot';
  let port = 10243;
  while (!(await portFree(port))) port++;
  log(`starting Dovecot: ci/dovecot-start.sh with DOVECOT_DIR=${dir} DOVECOT_PORT=${port}`);
  const env = { ...process.env, DOVECOT_DIR: dir, DOVECOT_PORT: String(port), DOVECOT_RESET: '1' };
  const stdout: string = await new Promise((resolve, reject) => {
    const c = spawn('bash', [path.join(ROOT, 'ci/dovecot-start.sh')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    c.stdout.on('data', (d: Buffer) => (s += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`ci/dovecot-start.sh exited with ${code}`))));
  });
  for (const line of stdout.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  if (!process.env.TEST_IMAP_URL) throw new Error('ci/dovecot-start.sh printed no TEST_IMAP_URL');
  cleanups.push({
    what: 'stop Dovecot',
    fn: () =>
      new Promise<void>((resolve) => {
        const c = spawn('bash', [path.join(ROOT, 'ci/dovecot-stop.sh'), '--quiet', ...(opt.keep ? [] : ['--purge'])], {
          env: { ...process.env, DOVECOT_DIR: dir },
          stdio: 'inherit',
        });
        c.on('close', () => resolve());
        c.on('error', () => resolve());
      }),
  });
  return { imapUrl: process.env.TEST_IMAP_URL, started: true };
}

const ADMIN_URL = process.env.TEST_DATABASE_URL || 'postgres://root@127.0.0.1:5432/postgres';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

let dbCounter = 0;
async function freshDatabase(label: string): Promise<string> {
  const name = `intake_bench_${STAMP}_${label}_${++dbCounter}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  cleanups.push({ what: `drop database ${name}`, fn: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}) });
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

function freshDataDir(label: string): string {
  const d = path.join(TMP, `data-${label}-${++dbCounter}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

// ---- children ---------------------------------------------------------------------------------------------

const NODE = process.execPath;
function intake(args: string[], env: Record<string, string | undefined>, nodeFlags: string[] = [], root = CODE_ROOT): Promise<Measured> {
  // bin/intake.js, as staff run it: the bundle of src/ (built by the warm-up below, not inside a measurement)
  return measure([NODE, ...nodeFlags, path.join(root, 'bin/intake.js'), ...args], {
    cwd: root,
    env: childEnv({ LOG_LEVEL: 'warn', ...env }),
    timeoutMs: CHILD_TIMEOUT,
  });
}

function mustSucceed(m: Measured, what: string): void {
  if (m.code !== 0) {
    throw new Error(`${what} exited with ${m.code}\n--- stderr (tail) ---\n${m.stderr.slice(-4000)}\n--- stdout ---\n${m.stdout.slice(-2000)}`);
  }
}

// ---- results ------------------------------------------------------------------------------------------------

const rows: BenchRow[] = [];
const report: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memMb: Math.round(os.totalmem() / MiB), node: process.version, loadavgAtStart: os.loadavg() },
  rssSource: haveGnuTime ? 'GNU time -v (ru_maxrss of the child)' : '/proc/<pid>/status VmHWM polled every 20 ms',
  n: N,
  runs: RUNS,
  seed: SEED,
};

function printTable(): void {
  const head: BenchRow = { name: 'name', value: 'value', baseline: 'baseline', ratio: 'ratio', goal: 'goal', pass: null };
  const cells = (r: BenchRow) => [r.name, r.value, r.baseline, r.ratio, r.goal, r === head ? 'pass/fail' : r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL'];
  const all = [head, ...rows].map(cells);
  const w = all[0].map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i])).join(' | ');
  console.log('');
  console.log(line(all[0]));
  console.log(w.map((n) => '-'.repeat(n)).join('-+-'));
  for (const r of all.slice(1)) console.log(line(r));
  console.log('');
}

// ---- 1. ingest throughput -------------------------------------------------------------------------------------

interface PipelineRun {
  measured: Omit<Measured, 'stdout' | 'stderr'>;
  server: ServerCpu;
  phases: { startupMs: number; ingestMs: number; parseMs: number; understandMs: number; exitMs: number };
  verify: { rows: number; parsed: number; attachments: number; attachmentBytes: number; lastUid: number };
}

/**
 * Attribution variants change only the environment, never src/: `tmpfs` puts INTAKE_DATA_DIR on /dev/shm
 * (fsync and disk writes become memory copies), `asyncCommit` connects with synchronous_commit=off (a COMMIT
 * no longer waits for the WAL flush).
 */
interface Variant {
  tmpfs?: boolean;
  asyncCommit?: boolean;
  /** another tree (see --compare) */
  root?: string;
}

async function pipelineRun(imapUrl: string, label: string, nodeFlags: string[] = [], variant: Variant = {}): Promise<PipelineRun> {
  const dbUrl = await freshDatabase(label);
  const childDbUrl = variant.asyncCommit ? `${dbUrl}${dbUrl.includes('?') ? '&' : '?'}options=-c%20synchronous_commit%3Doff` : dbUrl;
  const dataDir = variant.tmpfs ? fs.mkdtempSync(path.join('/dev/shm', `intake-bench-${label}-`)) : freshDataDir(label);
  if (variant.tmpfs) cleanups.push({ what: `remove ${dataDir}`, fn: () => fs.rmSync(dataDir, { recursive: true, force: true }) });
  const watch = watchServerCpu({ adminUrl: ADMIN_URL, database: new URL(dbUrl).pathname.slice(1) });
  await watch.ready;
  const spawnedAt = Date.now();
  const m = await intake(['run', '--once'], { IMAP_URL: imapUrl, DATABASE_URL: childDbUrl, INTAKE_DATA_DIR: dataDir }, nodeFlags, variant.root);
  const exitedAt = Date.now();
  const server = await watch.stop();
  mustSucceed(m, 'intake run --once');
  const [v] = await query<{
    rows: number;
    parsed: number;
    first_received: Date;
    last_received: Date;
    last_parsed: Date;
    last_understood: Date | null;
  }>(
    dbUrl,
    `select count(*)::int as rows, count(*) filter (where status = 'parsed')::int as parsed,
            min(received_at) as first_received, max(received_at) as last_received, max(parsed_at) as last_parsed,
            max(understood_at) as last_understood
       from messages`,
  );
  const [a] = await query<{ n: number; bytes: number }>(dbUrl, 'select count(*)::int as n, coalesce(sum(size), 0)::bigint as bytes from attachments');
  const [cp] = await query<{ last: number }>(dbUrl, 'select coalesce(max(last_uid), 0)::bigint as last from mailbox_checkpoints');
  if (!opt.keep) fs.rmSync(dataDir, { recursive: true, force: true });
  const t = (d: Date | null) => (d ? d.getTime() : NaN);
  const { stdout: _o, stderr: _e, ...measured } = m;
  return {
    measured,
    server,
    phases: {
      // wall clock of this process and of the child's clock (same machine)
      startupMs: t(v.first_received) - spawnedAt,
      ingestMs: t(v.last_received) - t(v.first_received),
      parseMs: t(v.last_parsed) - t(v.last_received),
      // classify, items and links; then "exit": media jobs (ffprobe on video attachments), outbox, digests
      understandMs: t(v.last_understood) - t(v.last_parsed),
      exitMs: exitedAt - t(v.last_understood ?? v.last_parsed),
    },
    verify: { rows: v.rows, parsed: v.parsed, attachments: a.n, attachmentBytes: a.bytes, lastUid: cp?.last ?? 0 },
  };
}

interface BaselineRun {
  measured: Omit<Measured, 'stdout' | 'stderr'>;
  server: ServerCpu;
  result: { messages: number; bytes: number; attachments: number; attachmentBytes: number; fetchMs: number; parseMs: number; totalMs: number };
}

async function baselineRun(imapUrl: string, mode: 'fetch' | 'download', extra: string[] = []): Promise<BaselineRun> {
  const watch = watchServerCpu({});
  await watch.ready;
  const m = await measure([NODE, '--import', 'tsx', path.join(ROOT, 'bench/baseline-imap.ts'), '--mode', mode, ...extra], {
    cwd: ROOT,
    env: childEnv({ IMAP_URL: imapUrl }),
    timeoutMs: CHILD_TIMEOUT,
  });
  const server = await watch.stop();
  mustSucceed(m, `baseline-imap --mode ${mode}`);
  const result = JSON.parse(m.stdout.trim().split('\n').pop()!);
  const { stdout: _o, stderr: _e, ...measured } = m;
  return { measured, server, result };
}

async function benchIngest(imapUrl: string): Promise<void> {
  log(`generating ${N} messages (seed ${SEED})`);
  const { messages, summary } = generateMessages(N, SEED);
  const expectAttachments = summary.attachments;
  report.mix = summary satisfies MixSummary;
  const mailbox = `Bench${STAMP}`;
  log(`seeding ${N} messages (${Math.round(summary.bytes / MiB)} MiB) into Dovecot mailbox ${mailbox}`);
  const s0 = performance.now();
  await dovecotSaveMany(mailbox, messages.map((m) => m.raw));
  const st = await dovecotMailboxStatus(mailbox);
  if (st.messages !== N) throw new Error(`Dovecot holds ${st.messages} messages in ${mailbox}, expected ${N}`);
  log(`seeded in ${secs(performance.now() - s0)} s`);
  messages.length = 0;
  cleanups.push({ what: `delete mailbox ${mailbox}`, fn: () => dovecotDeleteMailbox(mailbox).catch(() => {}) });
  const u = new URL(imapUrl);
  u.pathname = `/${encodeURIComponent(mailbox)}`;
  const url = u.toString();

  const base: BaselineRun[] = [];
  const pipe: PipelineRun[] = [];
  const compareTrees = COMPARE_TREES;
  const noDurable: PipelineRun[] = [];
  const showPipe = (p: PipelineRun) =>
    log(
      `  ${secs(p.measured.wallMs)} s; startup/ingest/parse/understand/exit ${[p.phases.startupMs, p.phases.ingestMs, p.phases.parseMs, p.phases.understandMs, p.phases.exitMs].map(secs).join('/')} s; ` +
        `CPU node ${((p.measured.userS ?? 0) + (p.measured.sysS ?? 0)).toFixed(1)} s, pg ${p.server.postgresS.toFixed(1)} s, imap ${p.server.dovecotS.toFixed(1)} s`,
    );
  for (let r = 1; r <= RUNS; r++) {
    log(`run ${r}/${RUNS}: baseline (imapflow fetchAll + MailParser)`);
    base.push(await baselineRun(url, 'fetch'));
    log(`  ${secs(base.at(-1)!.measured.wallMs)} s`);
    log(`run ${r}/${RUNS}: pipeline (intake run --once)`);
    pipe.push(await pipelineRun(url, `ingest${r}`));
    showPipe(pipe.at(-1)!);
    for (const c of compareTrees) {
      log(`run ${r}/${RUNS}: pipeline of ${c.spec}`);
      const pr = await pipelineRun(url, `cmp${compareTrees.indexOf(c)}_${r}`, [], { root: c.root });
      c.runs.push(pr);
      showPipe(pr);
    }
    if (opt.attribution) {
      log(`run ${r}/${RUNS}: attribution: pipeline with data dir on tmpfs and synchronous_commit=off`);
      noDurable.push(await pipelineRun(url, `nodurable${r}`, [], { tmpfs: true, asyncCommit: true }));
      showPipe(noDurable.at(-1)!);
    }
  }
  let tmpfsOnly: PipelineRun | null = null;
  let asyncOnly: PipelineRun | null = null;
  let serialBig: BaselineRun | null = null;
  if (opt.attribution) {
    log('attribution: pipeline with data dir on tmpfs only');
    tmpfsOnly = await pipelineRun(url, 'tmpfs', [], { tmpfs: true });
    showPipe(tmpfsOnly);
    log('attribution: pipeline with synchronous_commit=off only');
    asyncOnly = await pipelineRun(url, 'asynccommit', [], { asyncCommit: true });
    showPipe(asyncOnly);
  }
  log('diagnostic: baseline with one serial download() per message, 64 KiB chunks (imapflow\'s default; src/adapters/imap.ts streams only messages over 1 MiB so)');
  const serial = await baselineRun(url, 'download');
  log(`  ${secs(serial.measured.wallMs)} s`);
  if (opt.attribution) {
    log('diagnostic: baseline with one serial download() per message, 4 MiB chunks');
    serialBig = await baselineRun(url, 'download', ['--chunk', String(4 * MiB)]);
    log(`  ${secs(serialBig.measured.wallMs)} s`);
  }

  let profile: ProfileSummary | null = null;
  if (opt.profile) {
    const profDir = path.join(OUT_DIR, 'prof');
    fs.rmSync(profDir, { recursive: true, force: true });
    fs.mkdirSync(profDir, { recursive: true });
    log('profile: one more pipeline run with --cpu-prof (not counted in the table)');
    const pr = await pipelineRun(url, 'profile', ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
    const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    // the biggest profile is the intake process (tsx may leave small ones)
    const file = files.map((f) => path.join(profDir, f)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
    if (file) {
      profile = summarize(file, 25);
      printSummary(profile, `CPU profile of intake run --once (${secs(pr.measured.wallMs)} s wall, ${file})`);
    }
  }

  const best = <T extends { measured: { wallMs: number } }>(xs: T[]) => xs.reduce((a, b) => (b.measured.wallMs < a.measured.wallMs ? b : a));
  const bp = best(pipe);
  const bb = best(base);
  const ratio = bp.measured.wallMs / bb.measured.wallMs;
  const rate = (ms: number) => (N / (ms / 1000)).toFixed(1);
  report.ingest = {
    mailbox,
    baseline: base,
    pipeline: pipe,
    serialDownloadBaseline: serial,
    serialDownload4MiBBaseline: serialBig,
    attribution: { noDurable, tmpfsOnly, asyncOnly },
    pairedRatios: pipe.map((p, i) => p.measured.wallMs / base[i].measured.wallMs),
    bestRatio: ratio,
    profile,
  };
  rows.push({
    name: `ingest ${N} msgs: msgs/s (best of ${RUNS}); ratio = time pipeline/baseline`,
    value: `${rate(bp.measured.wallMs)} msg/s (${secs(bp.measured.wallMs)} s)`,
    baseline: `${rate(bb.measured.wallMs)} msg/s (${secs(bb.measured.wallMs)} s)`,
    ratio: `${ratio.toFixed(2)}x`,
    goal: '<= 1.5x',
    pass: ratio <= 1.5,
  });
  rows.push({
    name: '  paired ratios per run (pipeline/baseline)',
    value: pipe.map((p) => `${secs(p.measured.wallMs)} s`).join(', '),
    baseline: base.map((b) => `${secs(b.measured.wallMs)} s`).join(', '),
    ratio: pipe.map((p, i) => `${(p.measured.wallMs / base[i].measured.wallMs).toFixed(2)}x`).join(', '),
    goal: '',
    pass: null,
  });
  rows.push({
    name: '  pipeline phases: startup / ingest / parse / understand / exit (media, outbox, digests)',
    value: [bp.phases.startupMs, bp.phases.ingestMs, bp.phases.parseMs, bp.phases.understandMs, bp.phases.exitMs].map((x) => `${secs(x)}`).join(' / ') + ' s',
    baseline: `fetch ${secs(bb.result.fetchMs)} / parse ${secs(bb.result.parseMs)} s`,
    ratio: '',
    goal: '',
    pass: null,
  });
  // Ingest as issue 2 defines it (stored, parsed, classified and linked), without the later stages that
  // `run --once` also runs (media jobs, acknowledgements, outbox, digests): best run, paired with its baseline.
  const throughUnderstand = (p: PipelineRun) => p.phases.startupMs + p.phases.ingestMs + p.phases.parseMs + p.phases.understandMs;
  const tuRatios = pipe.map((p, i) => throughUnderstand(p) / base[i].measured.wallMs);
  rows.push({
    name: '  through understand (startup .. last understood), best of paired ratios',
    value: pipe.map((p) => `${secs(throughUnderstand(p))} s`).join(', '),
    baseline: base.map((b) => `${secs(b.measured.wallMs)} s`).join(', '),
    ratio: `${Math.min(...tuRatios).toFixed(2)}x (${tuRatios.map((r) => r.toFixed(2)).join(', ')})`,
    goal: '',
    pass: null,
  });
  const cpuOf = (x: { measured: { userS: number | null; sysS: number | null }; server: ServerCpu }) =>
    (x.measured.userS ?? 0) + (x.measured.sysS ?? 0) + x.server.postgresS + x.server.dovecotS;
  const cpuLine = (x: { measured: { userS: number | null; sysS: number | null }; server: ServerCpu }) =>
    `${cpuOf(x).toFixed(1)} s (node ${((x.measured.userS ?? 0) + (x.measured.sysS ?? 0)).toFixed(1)}, pg ${x.server.postgresS.toFixed(1)}, imap ${x.server.dovecotS.toFixed(1)})`;
  const minCpuP = pipe.reduce((a, b) => (cpuOf(b) < cpuOf(a) ? b : a));
  const minCpuB = base.reduce((a, b) => (cpuOf(b) < cpuOf(a) ? b : a));
  rows.push({
    name: `  CPU seconds, all processes (min of ${RUNS}): steadier than wall time`,
    value: cpuLine(minCpuP),
    baseline: cpuLine(minCpuB),
    ratio: `${(cpuOf(minCpuP) / cpuOf(minCpuB)).toFixed(2)}x`,
    goal: '',
    pass: null,
  });
  rows.push({
    name: '  CPU user+sys of the child',
    value: `${bp.measured.userS}+${bp.measured.sysS} s`,
    baseline: `${bb.measured.userS}+${bb.measured.sysS} s`,
    ratio: bp.measured.userS !== null && bb.measured.userS !== null
      ? `${((bp.measured.userS + (bp.measured.sysS ?? 0)) / (bb.measured.userS + (bb.measured.sysS ?? 0))).toFixed(2)}x`
      : '',
    goal: '',
    pass: null,
  });
  rows.push({
    name: '  diag: baseline, one serial download() per message, 64 KiB chunks',
    value: `${rate(serial.measured.wallMs)} msg/s (${secs(serial.measured.wallMs)} s), CPU ${cpuOf(serial).toFixed(1)} s`,
    baseline: `${rate(bb.measured.wallMs)} msg/s, CPU ${cpuOf(minCpuB).toFixed(1)} s`,
    ratio: `${(serial.measured.wallMs / bb.measured.wallMs).toFixed(2)}x`,
    goal: '',
    pass: null,
  });
  if (serialBig)
    rows.push({
      name: '  diag: baseline, serial download() 4 MiB chunks',
      value: `${rate(serialBig.measured.wallMs)} msg/s (${secs(serialBig.measured.wallMs)} s), CPU ${cpuOf(serialBig).toFixed(1)} s`,
      baseline: `${rate(bb.measured.wallMs)} msg/s, CPU ${cpuOf(minCpuB).toFixed(1)} s`,
      ratio: `${(serialBig.measured.wallMs / bb.measured.wallMs).toFixed(2)}x`,
      goal: '',
      pass: null,
    });
  const variantRow = (name: string, p: PipelineRun) =>
    rows.push({
      name,
      value: `${secs(p.measured.wallMs)} s (ingest ${secs(p.phases.ingestMs)} / parse ${secs(p.phases.parseMs)}), CPU ${cpuOf(p).toFixed(1)} s`,
      baseline: `${secs(bp.measured.wallMs)} s (${secs(bp.phases.ingestMs)} / ${secs(bp.phases.parseMs)}), CPU ${cpuOf(minCpuP).toFixed(1)} s`,
      ratio: `${(p.measured.wallMs / bp.measured.wallMs).toFixed(2)}x`,
      goal: '',
      pass: null,
    });
  for (const c of compareTrees) {
    const bc = best(c.runs);
    const cc = c.runs.reduce((a, b) => (cpuOf(b) < cpuOf(a) ? b : a));
    rows.push({
      name: `compare ${c.spec} (best of ${c.runs.length}); ratio = time/baseline`,
      value: `${rate(bc.measured.wallMs)} msg/s (${secs(bc.measured.wallMs)} s; ${secs(bc.phases.ingestMs)} / ${secs(bc.phases.parseMs)}), CPU ${cpuOf(cc).toFixed(1)} s`,
      baseline: `pipeline ${secs(bp.measured.wallMs)} s, CPU ${cpuOf(minCpuP).toFixed(1)} s`,
      ratio: `${(bc.measured.wallMs / bb.measured.wallMs).toFixed(2)}x`,
      goal: '<= 1.5x',
      pass: bc.measured.wallMs / bb.measured.wallMs <= 1.5,
    });
    const cr = c.runs.map((p, i) => throughUnderstand(p) / base[i].measured.wallMs);
    rows.push({
      name: '  through understand, paired ratios',
      value: c.runs.map((p) => `${secs(throughUnderstand(p))} s`).join(', '),
      baseline: base.map((b) => `${secs(b.measured.wallMs)} s`).join(', '),
      ratio: `${Math.min(...cr).toFixed(2)}x (${cr.map((r) => r.toFixed(2)).join(', ')})`,
      goal: '',
      pass: null,
    });
    const ok = c.runs.every((p) => p.verify.rows === N && p.verify.parsed === N && p.verify.attachments === expectAttachments && p.verify.lastUid === st.uidnext - 1);
    rows.push({ name: '  verify rows / parsed / attachments', value: c.runs.map((p) => `${p.verify.rows}/${p.verify.parsed}/${p.verify.attachments}`).join(', '), baseline: `${N}/${N}/${expectAttachments}`, ratio: '', goal: '= N', pass: ok });
  }
  report.compare = compareTrees.map((c) => ({ spec: c.spec, desc: c.desc, runs: c.runs }));
  if (noDurable.length) variantRow(`  attribution: tmpfs + sync_commit=off (best of ${noDurable.length}); baseline col = pipeline`, best(noDurable));
  if (tmpfsOnly) variantRow('  attribution: data dir on tmpfs only (1 run)', tmpfsOnly);
  if (asyncOnly) variantRow('  attribution: synchronous_commit=off only (1 run)', asyncOnly);
  rows.push({
    name: 'ingest peak RSS',
    value: `${mb(Math.max(...pipe.map((p) => p.measured.maxRssKb)))} MB`,
    baseline: `${mb(Math.max(...base.map((b) => b.measured.maxRssKb)))} MB`,
    ratio: '',
    goal: '',
    pass: null,
  });
  const allOk = pipe.every((p) => p.verify.rows === N && p.verify.parsed === N && p.verify.attachments === expectAttachments && p.verify.lastUid === st.uidnext - 1);
  rows.push({
    name: 'ingest verify: rows / parsed / attachments (every run)',
    value: pipe.map((p) => `${p.verify.rows}/${p.verify.parsed}/${p.verify.attachments}`).join(', '),
    baseline: `${N}/${N}/${expectAttachments}`,
    ratio: '',
    goal: '= N, all parsed',
    pass: allOk,
  });
  rows.push({
    name: 'baseline verify: messages / attachments',
    value: base.map((b) => `${b.result.messages}/${b.result.attachments}`).join(', '),
    baseline: `${N}/${expectAttachments}`,
    ratio: '',
    goal: '= N',
    pass: base.every((b) => b.result.messages === N && b.result.attachments === expectAttachments),
  });
}

// ---- 2. big attachment memory ------------------------------------------------------------------------------

async function sha256File(file: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of fs.createReadStream(file, { highWaterMark: 4 * MiB }) as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { size, sha256: h.digest('hex') };
}

interface BigVerify {
  status: string;
  attachments: number;
  size: number;
  sha256: string;
  fileSize: number;
  fileSha256: string;
}

async function verifyBig(rowsOf: (sql: string) => Promise<any[]>, dataDir: string): Promise<BigVerify> {
  const msgs = await rowsOf('select id, status from messages');
  const atts = await rowsOf('select size, sha256, path from attachments');
  const a = atts[0];
  const f = a ? await sha256File(path.join(dataDir, a.path)) : { size: -1, sha256: '' };
  return {
    status: msgs.map((m) => m.status).join(',') + (msgs.length !== 1 ? ` (${msgs.length} rows)` : ''),
    attachments: atts.length,
    size: a ? Number(a.size) : -1,
    sha256: a?.sha256 ?? '',
    fileSize: f.size,
    fileSha256: f.sha256,
  };
}

async function benchBig(): Promise<void> {
  const file = path.join(TMP, 'big-attachment.eml');
  log(`writing a message with a ${Math.round(BIG_BYTES / MiB)} MiB attachment to ${file} (streamed)`);
  const big = await writeBigMessage(file, BIG_BYTES, SEED);
  log(`  ${Math.round(big.fileBytes / MiB)} MiB raw`);
  const ok = (v: BigVerify) => v.status === 'parsed' && v.attachments === 1 && v.size === BIG_BYTES && v.sha256 === big.sha256 && v.fileSize === BIG_BYTES && v.fileSha256 === big.sha256;
  const describe = (v: BigVerify) => `${v.status}, ${v.attachments} att, ${v.size} B, sha ${v.sha256 === big.sha256 && v.fileSha256 === big.sha256 ? 'ok' : 'MISMATCH'}`;

  // (a) PostgreSQL
  const dbUrl = await freshDatabase('big');
  const pgDir = freshDataDir('big-pg');
  log('big (a): idle (intake messages), then intake import, on PostgreSQL');
  // idle: the same binary opening the same (migrated, empty) database with nothing to do
  const pgSetup = await intake(['db', 'migrate'], { DATABASE_URL: dbUrl, INTAKE_DATA_DIR: pgDir });
  mustSucceed(pgSetup, 'intake db migrate (PostgreSQL)');
  const pgIdle = await intake(['messages'], { DATABASE_URL: dbUrl, INTAKE_DATA_DIR: pgDir });
  mustSucceed(pgIdle, 'intake messages (PostgreSQL)');
  const a = await intake(['import', file], { DATABASE_URL: dbUrl, INTAKE_DATA_DIR: pgDir });
  mustSucceed(a, 'intake import (PostgreSQL)');
  const va = await verifyBig((sql) => query(dbUrl, sql), pgDir);
  if (!opt.keep) fs.rmSync(pgDir, { recursive: true, force: true });
  log(`  ${secs(a.wallMs)} s, peak RSS ${mb(a.maxRssKb)} MB (idle ${mb(pgIdle.maxRssKb)} MB); ${describe(va)}`);

  // (b) PGlite: create + migrate once (setup), then idle = `intake messages` (open + migrate with nothing to
  // do) on that same fresh data dir, then the import.
  const liteDir = freshDataDir('big-pglite');
  log('big (b): PGlite setup (intake db migrate), idle (intake messages), intake import');
  const setup = await intake(['db', 'migrate'], { INTAKE_DATA_DIR: liteDir });
  mustSucceed(setup, 'intake db migrate (PGlite)');
  const idle = await intake(['messages'], { INTAKE_DATA_DIR: liteDir });
  mustSucceed(idle, 'intake messages (PGlite)');
  const b = await intake(['import', file], { INTAKE_DATA_DIR: liteDir });
  mustSucceed(b, 'intake import (PGlite)');
  const { PGlite } = await import('@electric-sql/pglite');
  const lite = await PGlite.create({ dataDir: path.join(liteDir, 'db') });
  const vb = await verifyBig(async (sql) => (await lite.query(sql)).rows as any[], liteDir);
  await lite.close();
  if (!opt.keep) fs.rmSync(liteDir, { recursive: true, force: true });
  log(`  import ${secs(b.wallMs)} s, peak RSS ${mb(b.maxRssKb)} MB (idle ${mb(idle.maxRssKb)} MB, first open+migrate ${mb(setup.maxRssKb)} MB); ${describe(vb)}`);
  if (!opt.keep) fs.rmSync(file, { force: true });

  const strip = (m: Measured) => {
    const { stdout, stderr: _e, ...rest } = m;
    return { ...rest, stdout: stdout.trim() };
  };
  report.big = { attachmentBytes: BIG_BYTES, fileBytes: big.fileBytes, sha256: big.sha256, postgres: { idle: strip(pgIdle), import: strip(a), verify: va }, pglite: { setup: strip(setup), idle: strip(idle), import: strip(b), verify: vb } };

  rows.push({
    name: `big ${Math.round(BIG_BYTES / MiB)} MiB attachment, PostgreSQL: import peak RSS`,
    value: `${mb(a.maxRssKb)} MB (${secs(a.wallMs)} s)`,
    baseline: `${mb(pgIdle.maxRssKb)} MB idle`,
    ratio: `${(a.maxRssKb / pgIdle.maxRssKb).toFixed(2)}x`,
    goal: '< 150 MB',
    pass: a.maxRssKb < 150 * 1024,
  });
  rows.push({
    name: '  PostgreSQL: growth over idle',
    value: `+${mb(a.maxRssKb - pgIdle.maxRssKb)} MB`,
    baseline: '',
    ratio: '',
    goal: '< 150 MB (bench choice)',
    pass: a.maxRssKb - pgIdle.maxRssKb < 150 * 1024,
  });
  rows.push({ name: '  verify (status, attachment size, sha256)', value: describe(va), baseline: `${BIG_BYTES} B`, ratio: '', goal: 'exact', pass: ok(va) });
  const growth = b.maxRssKb - idle.maxRssKb;
  rows.push({
    name: `big ${Math.round(BIG_BYTES / MiB)} MiB attachment, PGlite: import peak RSS (baseline = idle)`,
    value: `${mb(b.maxRssKb)} MB (${secs(b.wallMs)} s)`,
    baseline: `${mb(idle.maxRssKb)} MB idle`,
    ratio: `${(b.maxRssKb / idle.maxRssKb).toFixed(2)}x`,
    goal: '',
    pass: null,
  });
  rows.push({
    name: '  PGlite: growth over idle',
    value: `+${mb(growth)} MB`,
    baseline: '',
    ratio: '',
    goal: '< 150 MB (bench choice)',
    pass: growth < 150 * 1024,
  });
  rows.push({ name: '  verify (status, attachment size, sha256)', value: describe(vb), baseline: `${BIG_BYTES} B`, ratio: '', goal: 'exact', pass: ok(vb) });
}

// ---- probes: what one fsync and one commit cost on this machine now -------------------------------------------

async function probes(): Promise<void> {
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const dir = path.join(TMP, 'fsync-probe');
  fs.mkdirSync(dir);
  const fsyncMs: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    const fh = await fs.promises.open(path.join(dir, `f${i}`), 'wx');
    await fh.writeFile(Buffer.alloc(30_000, 1));
    await fh.sync();
    await fh.close();
    fsyncMs.push(performance.now() - t0);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const dbUrl = await freshDatabase('probe');
  const commit = async (asyncCommit: boolean) => {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    try {
      await c.query(`set synchronous_commit = ${asyncCommit ? 'off' : 'on'}`);
      await c.query('create table if not exists t (x int)');
      const ms: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await c.query('insert into t values ($1)', [i]);
        ms.push(performance.now() - t0);
      }
      const rt: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await c.query('select 1');
        rt.push(performance.now() - t0);
      }
      return { insertMs: median(ms), selectMs: median(rt) };
    } finally {
      await c.end();
    }
  };
  const on = await commit(false);
  const off = await commit(true);
  const p = {
    fsync30kFileMs: median(fsyncMs),
    pgAutocommitInsertMs: on.insertMs,
    pgAutocommitInsertAsyncMs: off.insertMs,
    pgSelect1Ms: on.selectMs,
  };
  report.probes = p;
  const f = (x: number) => x.toFixed(2);
  log(`probes: write+fsync 30 KB file ${f(p.fsync30kFileMs)} ms; PG autocommit insert ${f(p.pgAutocommitInsertMs)} ms (async commit ${f(p.pgAutocommitInsertAsyncMs)} ms); select 1 ${f(p.pgSelect1Ms)} ms (medians of 200)`);
  rows.push({
    name: 'env: write+fsync 30 KB / PG insert commit / PG select 1 (medians)',
    value: `${f(p.fsync30kFileMs)} / ${f(p.pgAutocommitInsertMs)} / ${f(p.pgSelect1Ms)} ms`,
    baseline: `commit w/o flush ${f(p.pgAutocommitInsertAsyncMs)} ms`,
    ratio: '',
    goal: '',
    pass: null,
  });
}

// ---- main ---------------------------------------------------------------------------------------------------------

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

/**
 * A tree spec to a directory the children can run: `worktree` (this checkout), a directory holding a checkout,
 * or `<git rev>[+<patch>...]`: the revision exported with `git archive`, then each patch applied with `git apply`
 * (how the prototypes in bench/proposals/ are measured). node_modules is linked from this checkout.
 */
function resolveTree(spec: string): { root: string; desc: Record<string, unknown> } {
  if (spec === 'worktree') {
    const head = git(['rev-parse', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--', 'src', 'migrations', 'package.json']);
    if (dirty) log(`note: measuring the working tree, which differs from HEAD ${head.slice(0, 10)} in ${dirty.split('\n').length} file(s) under src/ (use --tree HEAD for a clean snapshot)`);
    return { root: ROOT, desc: { tree: 'worktree', head, dirtyFiles: dirty ? dirty.split('\n').length : 0 } };
  }
  if (fs.existsSync(path.join(spec, 'src', 'cli.ts'))) {
    const root = path.resolve(spec);
    if (!fs.existsSync(path.join(root, 'node_modules'))) fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
    log(`tree ${spec}: the checkout in ${root}`);
    return { root, desc: { tree: root } };
  }
  const [revSpec, ...patches] = spec.split('+');
  const rev = git(['rev-parse', '--verify', `${revSpec}^{commit}`]);
  const dir = fs.mkdtempSync(path.join(TMP, `tree-${rev.slice(0, 10)}-`));
  execFileSync('bash', ['-c', `git archive ${rev} | tar -x -C ${JSON.stringify(dir)}`], { cwd: ROOT });
  for (const p of patches) execFileSync('git', ['apply', path.resolve(ROOT, p)], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  log(`tree ${spec}: ${rev.slice(0, 10)}${patches.length ? ` + ${patches.join(' + ')}` : ''} exported to ${dir}`);
  return { root: dir, desc: { tree: spec, rev, patches } };
}

/** Chooses the code the children run (see --tree) and records it. */
function selectTree(): void {
  const t = resolveTree(opt.tree!);
  CODE_ROOT = t.root;
  report.code = t.desc;
  COMPARE_TREES = (opt.compare ?? []).map((spec) => ({ spec, ...resolveTree(spec), runs: [] }));
  // Warm-up: bin/intake.js builds its bundle of src/ on first use; build it here, outside every measurement.
  for (const root of [CODE_ROOT, ...COMPARE_TREES.map((c) => c.root)])
    execFileSync(NODE, [path.join(root, 'bin/intake.js'), '--help'], { cwd: root, stdio: 'ignore' });
}

async function main(): Promise<number> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  if (N < 2000) log(`note: --n ${N} is below 2000; the reference run uses 2000`);
  log(`peak RSS from ${report.rssSource}; temp dir ${TMP}`);
  try {
    selectTree();
    report.postgres = await admin(async (c) => {
      const r = await c.query(`select name, setting from pg_settings where name in ('server_version','fsync','synchronous_commit','wal_sync_method','shared_buffers')`);
      return Object.fromEntries(r.rows.map((x) => [x.name, x.setting]));
    });
    await probes();
    if (!opt['skip-ingest']) {
      const { imapUrl, started } = await ensureDovecot();
      report.dovecot = { startedByBench: started, url: imapUrl.replace(/:[^:@/]*@/, ':***@') };
      await benchIngest(imapUrl);
    }
    if (!opt['skip-big']) await benchBig();
    // Trimming a 10-minute 720p video by the media job stage against bare ffmpeg (see bench/video.ts).
    if (!opt['skip-video']) report.video = await benchVideo({ tmp: TMP, runs: RUNS, log, rows, freshDatabase });
    // The daily digest of 10,000 new items by src/core/digest.ts against a naive one-pass renderer (bench/digest.ts).
    if (!opt['skip-digest']) report.digest = await benchDigest({ n: 10_000, reps: Math.max(5, RUNS), log, rows });
  } catch (err) {
    report.error = (err as Error).stack ?? String(err);
    log(`FAILED: ${(err as Error).stack ?? err}`);
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c.fn();
      } catch (err) {
        log(`cleanup "${c.what}" failed: ${(err as Error).message}`);
      }
    }
    if (!opt.keep) fs.rmSync(TMP, { recursive: true, force: true });
    else log(`kept ${TMP}`);
  }
  report.finishedAt = new Date().toISOString();
  report.loadavgAtEnd = os.loadavg();
  report.table = rows;
  fs.writeFileSync(path.join(OUT_DIR, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  fs.copyFileSync(path.join(OUT_DIR, 'latest.json'), path.join(OUT_DIR, `run-${STAMP}.json`));
  printTable();
  console.log(`written ${path.relative(process.cwd(), path.join(OUT_DIR, 'latest.json'))}`);
  if (report.error) return 1;
  return rows.some((r) => r.pass === false) ? 1 : 0;
}

process.exitCode = await main();
