// The parse worker (src/adapters/mime-pool.ts): mailparser off the main thread, fenced in. The real worker
// parses and reports budget errors; stand-in workers (our own interface) die, run out of heap and hang, and
// only the messages they held fail; the pool starts a fresh worker for the next message.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeParsePool, type ParsePool } from '../../src/adapters/mime-pool.ts';
import { BudgetExceeded } from '../../src/adapters/mime.ts';

const budgets = { headerBytes: 64 * 1024, mimeParts: 3, attachmentBytes: 1024 * 1024, parseMs: 1000 };
let dir: string;
const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'intake-mime-pool-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the real parse worker', () => {
  let pool: ParsePool;
  beforeAll(() => {
    pool = makeParsePool();
  });
  afterAll(() => pool.stop());

  it('parses a message, its attachment written by the worker', async () => {
    const raw = file(
      'one.eml',
      [
        'From: Farida <farida@example.org>',
        'Subject: =?UTF-8?B?0JTQtdGA0LbQuNGB0Yw=?=',
        'Content-Type: multipart/mixed; boundary=b',
        '',
        '--b',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Мы с тобой.',
        '--b',
        'Content-Type: image/png; name=a.png',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('not really a png').toString('base64'),
        '--b--',
        '',
      ].join('\r\n'),
    );
    const parsed = await pool.parse(raw, path.join(dir, 'att1'), 'att1', budgets);
    expect(parsed.subject).toBe('Держись');
    expect(parsed.from).toEqual({ name: 'Farida', address: 'farida@example.org' });
    expect(parsed.text?.trim()).toBe('Мы с тобой.');
    expect(parsed.attachments).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, parsed.attachments[0].relPath)).toString()).toBe('not really a png');
  });

  it('returns a budget past its limit as BudgetExceeded with the reason, and a missing file with its code', async () => {
    const parts = Array.from({ length: 5 }, (_, i) => `--b\r\nContent-Type: application/octet-stream; name=${i}.bin\r\n\r\nx\r\n`).join('');
    const raw = file('many.eml', `From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--\r\n`);
    const err = await pool.parse(raw, path.join(dir, 'att2'), 'att2', budgets).catch((e) => e);
    expect(err).toBeInstanceOf(BudgetExceeded);
    expect(err.reason).toBe('more than 3 attachments');
    await expect(pool.parse(path.join(dir, 'missing.eml'), path.join(dir, 'att3'), 'att3', budgets)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

/** A stand-in worker: answers every file but the ones named `poison` (dies), `hog` (fills its heap) and `stuck` (hangs). */
const standIn = (options: WorkerOptions) =>
  new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.postMessage({ ready: true });
     parentPort.on('message', (req) => {
       if (req.rawFile.includes('poison')) process.exit(3);
       if (req.rawFile.includes('hog')) { const keep = []; for (;;) keep.push(new Array(1e6).fill(req.id)); }
       if (req.rawFile.includes('stuck')) for (;;);
       setTimeout(() => parentPort.postMessage({ id: req.id, parsed: { subject: req.rawFile } }), 50);
     });`,
    { ...options, eval: true },
  );

describe('a worker that fails', () => {
  const pool = makeParsePool({ start: standIn, heapMb: 32, stuckGraceMs: 200 });
  afterAll(() => pool.stop());
  const parse = (name: string) => pool.parse(name, '/nowhere', 'nowhere', budgets);

  it('dies: the messages it held fail, and the next message gets a new worker', async () => {
    const [ok, poison] = await Promise.allSettled([parse('/m/fine-1'), parse('/m/poison')]);
    expect(poison).toMatchObject({ status: 'rejected', reason: { message: 'the parser stopped (exit 3)' } });
    expect(ok).toMatchObject({ status: 'rejected', reason: { message: 'the parser stopped (exit 3)' } });
    expect(await parse('/m/fine-2')).toEqual({ subject: '/m/fine-2' });
  });

  it('runs out of heap: that worker ends, not the process', async () => {
    await expect(parse('/m/hog')).rejects.toThrow('the parser ran out of memory (over 32 MB)');
    expect(await parse('/m/fine-3')).toEqual({ subject: '/m/fine-3' });
  });

  it('hangs: ended after its budget and a grace, the message alone in it past the time budget', async () => {
    const err = await parse('/m/stuck').catch((e) => e);
    expect(err).toBeInstanceOf(BudgetExceeded);
    expect(err.reason).toBe('parsing took longer than 1 s');
    expect(await parse('/m/fine-4')).toEqual({ subject: '/m/fine-4' });
    // A budget under a second is worded in ms, as the worker words it (it read "0 s").
    const short = await pool.parse('/m/stuck', '/nowhere', 'nowhere', { ...budgets, parseMs: 300 }).catch((e) => e);
    expect(short.reason).toBe('parsing took longer than 300 ms');
  });

  it('hangs with others in it: each fails as a plain error (a retry), none is blamed', async () => {
    // fine-5 waits for its answer when the stuck one hangs the worker: both were held, neither is blamed
    const [a, b] = await Promise.allSettled([parse('/m/fine-5'), parse('/m/stuck')]);
    for (const r of [a, b]) expect(r).toMatchObject({ status: 'rejected', reason: { message: 'the parser stopped answering' } });
    for (const r of [a, b]) expect((r as PromiseRejectedResult).reason).not.toBeInstanceOf(BudgetExceeded);
    expect(await parse('/m/fine-6')).toEqual({ subject: '/m/fine-6' });
  });
});

describe('a worker that starts slowly', () => {
  /** A stand-in that takes `ms` to be ready (loading the parser on a busy machine), or never says it is. */
  const slowStart = (ms: number | null) => (options: WorkerOptions) =>
    new Worker(
      `const { parentPort } = require('node:worker_threads');
       // what comes before it is ready is answered once it is (a real worker's messages wait for the parser)
       const held = [];
       const answer = (req) => parentPort.postMessage({ id: req.id, parsed: { subject: req.rawFile } });
       let ready = false;
       parentPort.on('message', (req) => (ready ? answer(req) : held.push(req)));
       ${ms === null ? '' : `setTimeout(() => { ready = true; parentPort.postMessage({ ready: true }); held.forEach(answer); }, ${ms});`}`,
      { ...options, eval: true },
    );
  const quick = { ...budgets, parseMs: 50 };

  it('is not taken for a stuck one: the parse timers start when it is ready', async () => {
    const pool = makeParsePool({ start: slowStart(800), stuckGraceMs: 100 });
    try {
      // 800 ms to start against a 50 ms budget and a 100 ms grace: counted from the request, this would be a quarantine
      expect(await pool.parse('/m/late', '/nowhere', 'nowhere', quick)).toEqual({ subject: '/m/late' });
    } finally {
      await pool.stop();
    }
  });

  it('one that never says it is ready is ended after the start limit, and its messages fail as a retry', async () => {
    const pool = makeParsePool({ start: slowStart(null), stuckGraceMs: 100, bootMs: 300 });
    try {
      const err = await pool.parse('/m/never', '/nowhere', 'nowhere', quick).catch((e) => e);
      expect(err).not.toBeInstanceOf(BudgetExceeded);
      expect(err.message).toBe('the parser did not start within 0.3 s');
    } finally {
      await pool.stop();
    }
  });
});

describe('messages sent ahead', () => {
  /**
   * A stand-in that begins one message at a time, in the order sent, and takes `ms` over each (as the real
   * worker does, PARSE_CONCURRENCY at a time); it tells how many it had begun at most at once.
   */
  const oneAtATime = (ms: number) => (options: WorkerOptions) =>
    new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.postMessage({ ready: true });
       const waiting = [];
       let busy = false;
       const next = () => {
         const req = waiting.shift();
         if (!req) return void (busy = false);
         busy = true;
         setTimeout(() => { parentPort.postMessage({ id: req.id, parsed: { subject: req.rawFile } }); next(); }, ${ms});
       };
       parentPort.on('message', (req) => { waiting.push(req); if (!busy) next(); });`,
      { ...options, eval: true },
    );

  it('are timed from when the worker begins them, not from when they were sent', async () => {
    // Five sent at once, 150 ms each: the last begins 600 ms after it was sent, past its 100 ms budget and
    // 150 ms grace counted from then; counted from its beginning, each is well within.
    const pool = makeParsePool({ start: oneAtATime(150), stuckGraceMs: 150, concurrency: 1 });
    try {
      const names = ['/m/a', '/m/b', '/m/c', '/m/d', '/m/e'];
      const got = await Promise.all(names.map((n) => pool.parse(n, '/nowhere', 'nowhere', { ...budgets, parseMs: 100 })));
      expect(got.map((m) => m.subject)).toEqual(names);
    } finally {
      await pool.stop();
    }
  });

  it('still end a worker that stops answering, the one it had begun being past its time', async () => {
    // The first begun never answers: it is the one stuck, and those waiting behind it fail with it (a retry).
    const pool = makeParsePool({
      start: (options) =>
        new Worker(
          `const { parentPort } = require('node:worker_threads');
           parentPort.postMessage({ ready: true });
           parentPort.on('message', (req) => { if (req.rawFile.includes('stuck')) for (;;); });`,
          { ...options, eval: true },
        ),
      stuckGraceMs: 100,
      concurrency: 1,
    });
    try {
      const started = Date.now();
      const all = await Promise.allSettled(['/m/stuck', '/m/x', '/m/y'].map((n) => pool.parse(n, '/nowhere', 'nowhere', { ...budgets, parseMs: 100 })));
      for (const r of all) expect(r).toMatchObject({ status: 'rejected', reason: { message: 'the parser stopped answering' } });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await pool.stop();
    }
  });

  it('are all parsed by the real worker, however many are sent at once', async () => {
    const pool = makeParsePool();
    try {
      const names = Array.from({ length: 40 }, (_, i) => file(`ahead-${i}.eml`, `From: a@example.org\r\nSubject: ahead ${i}\r\n\r\nbody ${i}\r\n`));
      const got = await Promise.all(names.map((f, i) => pool.parse(f, path.join(dir, `att-ahead-${i}`), `att-ahead-${i}`, budgets)));
      expect(got.map((m) => m.subject)).toEqual(names.map((_, i) => `ahead ${i}`));
      expect(got.map((m) => m.text?.trim())).toEqual(names.map((_, i) => `body ${i}`));
    } finally {
      await pool.stop();
    }
  });
});

describe('an idle worker', () => {
  it('does not keep the process alive, and a busy one does', () => {
    const raw = file('alive.eml', 'From: a@example.org\r\nSubject: alive\r\n\r\nbody\r\n');
    const script = `
      import { parseInWorker } from ${JSON.stringify(path.resolve('src/adapters/mime-pool.ts'))};
      // nothing else holds the event loop: only the pending parse keeps this process running until it answers
      parseInWorker(${JSON.stringify(raw)}, ${JSON.stringify(path.join(dir, 'att4'))}, 'att4', ${JSON.stringify(budgets)})
        .then((m) => console.log('parsed', m.subject));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.error).toBeUndefined(); // no timeout: the process ended by itself once the worker was idle
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('parsed alive');
  });
});
