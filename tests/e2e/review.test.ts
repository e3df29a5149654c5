// Staff review from the command line, as staff use it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eml, tempDir } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';

describe('intake items / assign / approve / reject / history', () => {
  const dataDir = tempDir('intake-review-');
  const env = { INTAKE_DATA_DIR: dataDir };
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('lists, links, approves, rejects with a reason, refuses what is invalid, and shows the history', async () => {
    const src = path.join(dataDir, 'mail');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'a.eml'), eml({ subject: 'Story 8: for Khurshed', body: 'We will not forget Khurshed Bobokalonov.\r\n' }));
    fs.writeFileSync(path.join(src, 'b.eml'), eml({ subject: 'hello', body: 'Thank you for what you do.\r\n' }));
    expect((await runCli(['import', src], env)).code).toBe(0);

    const all = JSON.parse((await runCli(['items', '--json'], env)).stdout);
    expect(all).toHaveLength(2);
    const linked = all.find((i: any) => i.story === 8);
    const triage = all.find((i: any) => i.story === null);
    expect(linked).toMatchObject({ kind: 'message', status: 'pending', linkMethod: expect.any(String) });
    expect(triage.linkMethod).toBeNull();
    expect(JSON.parse((await runCli(['items', '--story', 'none', '--json'], env)).stdout).map((i: any) => i.id)).toEqual([triage.id]);

    const approveTriage = await runCli(['approve', String(triage.id)], env);
    expect(approveTriage.code).toBe(1);
    expect(approveTriage.stderr).toMatch(/not linked to a story: assign one first/);

    expect((await runCli(['assign', String(triage.id), '3', '--by', 'farida'], env)).code).toBe(0);
    expect((await runCli(['approve', String(triage.id), String(linked.id), '--by', 'farida'], env)).code).toBe(0);
    const again = await runCli(['approve', String(linked.id)], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already approved/);
    const noReason = await runCli(['reject', String(linked.id)], env);
    expect(noReason.code).toBe(2);
    expect((await runCli(['reject', String(linked.id), '--reason', 'asked to withdraw', '--by', 'karim'], env)).code).toBe(0);

    const approved = JSON.parse((await runCli(['items', '--status', 'approved', '--json'], env)).stdout);
    expect(approved.map((i: any) => [i.id, i.story])).toEqual([[triage.id, 3]]);
    const hist = JSON.parse((await runCli(['history', String(linked.id), '--json'], env)).stdout);
    expect(hist.map((e: any) => [e.actor, e.action])).toEqual([
      ['intake', 'link'],
      ['farida', 'approve'],
      ['karim', 'reject'],
    ]);
    expect(hist[2]).toMatchObject({ from: { status: 'approved' }, to: { status: 'rejected' }, reason: 'asked to withdraw' });
    const human = await runCli(['items'], env);
    expect(human.stdout).toMatch(/story 3/);

    const msgs = JSON.parse((await runCli(['messages', '--json'], env)).stdout);
    expect(msgs.find((m: any) => m.subject === 'Story 8: for Khurshed')).toMatchObject({ classification: 'submission', story: 8, items: [linked.id] });
  }, 180_000);
});
