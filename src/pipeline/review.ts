// Staff review: assign a story, approve, reject. Each command is all-or-nothing over the items it names, and
// every change is recorded with who, when, from what and to what.
import { eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { items, type ItemStatus } from '../db/schema.ts';
import { recordEvent } from '../db/items.ts';
import { reviewTransition, type ReviewAction } from '../core/review.ts';
import { IntakeError } from '../errors.ts';
import type { Campaign } from '../config.ts';
import { checkDisplayName } from '../core/compilation.ts';

async function lockItems(tx: Parameters<Parameters<Db['orm']['transaction']>[0]>[0], ids: number[]) {
  const rows = await tx.select().from(items).where(inArray(items.id, ids)).for('update');
  const missing = ids.filter((id) => !rows.some((r) => r.id === id));
  if (missing.length) throw new IntakeError('NOT_FOUND', `no item ${missing.join(', ')}`);
  return rows;
}

export async function assignStory(db: Db, campaign: Campaign, itemIds: number[], story: number, actor: string, now = new Date()) {
  if (!campaign.stories.some((s) => s.number === story))
    throw new IntakeError('USAGE', `story ${story} is not in the campaign (stories: ${campaign.stories.map((s) => s.number).join(', ')})`);
  await db.orm.transaction(async (tx) => {
    for (const it of await lockItems(tx, itemIds)) {
      if (it.story === story && it.linkMethod === 'staff') continue;
      await tx
        .update(items)
        .set({ story, linkMethod: 'staff', linkConfidence: 1, linkReason: `assigned by ${actor}`, updatedAt: now })
        .where(eq(items.id, it.id));
      await recordEvent(tx, { itemId: it.id, actor, action: 'assign', from: { story: it.story, method: it.linkMethod }, to: { story, method: 'staff' }, at: now });
    }
  });
}

export async function review(db: Db, itemIds: number[], action: ReviewAction, actor: string, reason?: string, now = new Date()) {
  await db.orm.transaction(async (tx) => {
    const rows = await lockItems(tx, itemIds);
    const decisions = rows.map((r) => ({ r, d: reviewTransition({ id: r.id, status: r.status, story: r.story }, action, reason) }));
    const errors = decisions.filter((x) => !x.d.ok).map((x) => (x.d as { error: string }).error);
    if (errors.length) throw new IntakeError('INVALID', `nothing changed:\n  ${errors.join('\n  ')}`);
    for (const { r, d } of decisions) {
      const to = (d as { to: ItemStatus }).to;
      await tx.update(items).set({ status: to, updatedAt: now }).where(eq(items.id, r.id));
      await recordEvent(tx, { itemId: r.id, actor, action, from: { status: r.status }, to: { status: to }, reason: reason ?? null, at: now });
    }
  });
}

/** The name shown under an item in the compilation and on the website; recorded like the other decisions. */
export async function setDisplayName(db: Db, itemId: number, input: string | null, actor: string, now = new Date()) {
  const checked = checkDisplayName(input);
  if (!checked.ok) throw new IntakeError('USAGE', checked.error);
  await db.orm.transaction(async (tx) => {
    const [it] = await lockItems(tx, [itemId]);
    if (it.displayName === checked.name) return;
    await tx.update(items).set({ displayName: checked.name, updatedAt: now }).where(eq(items.id, it.id));
    await recordEvent(tx, { itemId: it.id, actor, action: 'name', from: { displayName: it.displayName }, to: { displayName: checked.name }, at: now });
  });
  return checked.name;
}
