// RELIABILITY B15: an IMAP command sent while imapflow's fetch() is still being iterated waits for the fetch to
// end, and the fetch waits for the loop: a deadlock (imapflow's own warning). src/ never iterates fetch(): it
// collects a FETCH whole with fetchAll() (or fetchOne, download) and sends the next command after. This check
// reads every source file, so a fetch() loop added anywhere fails here rather than hanging a mailbox.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.ts';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.ts$/.test(e.name) ? [p] : [];
  });
}

/** Calls of a method named fetch (c.fetch(...), client.fetch (...)), comments left out; fetchAll and fetchOne are other names. */
function fetchIterations(code: string): number {
  const noComments = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  return (noComments.match(/\.\s*fetch\s*\(/g) ?? []).length;
}

describe('IMAP commands and fetch()', () => {
  it('the check finds a fetch() loop, and not fetchAll, fetchOne or a comment', () => {
    expect(fetchIterations('for await (const m of c.fetch("1:*", { source: true })) await c.messageFlagsAdd(m.uid, ["\\\\Seen"]);')).toBe(1);
    expect(fetchIterations('const it = client\n  .fetch(range, q);')).toBe(1);
    expect(fetchIterations('for (const m of await c.fetchAll(u, q)) x(m); await c.fetchOne("1", q); // c.fetch( here is a comment')).toBe(0);
  });

  it('no source file iterates imapflow fetch()', () => {
    const files = sources(path.join(PROJECT_ROOT, 'src'));
    expect(files.length).toBeGreaterThan(20);
    const found = files.filter((f) => fetchIterations(fs.readFileSync(f, 'utf8')) > 0).map((f) => path.relative(PROJECT_ROOT, f));
    expect(found).toEqual([]);
  });
});
