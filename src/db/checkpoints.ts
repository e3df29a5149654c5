// Inbox checkpoints: the highest committed UID per (mailbox, UIDVALIDITY). Only ever moves forward.
import { eq, sql } from 'drizzle-orm';
import { mailboxCheckpoints } from './schema.ts';
import type { Queryable } from './messages.ts';

export async function checkpointsOf(q: Queryable, mailbox: string) {
  return q
    .select({ uidValidity: mailboxCheckpoints.uidValidity, lastUid: mailboxCheckpoints.lastUid })
    .from(mailboxCheckpoints)
    .where(eq(mailboxCheckpoints.mailbox, mailbox));
}

export async function advanceCheckpoint(q: Queryable, mailbox: string, uidValidity: number, uid: number) {
  await q
    .insert(mailboxCheckpoints)
    .values({ mailbox, uidValidity, lastUid: uid })
    .onConflictDoUpdate({
      target: [mailboxCheckpoints.mailbox, mailboxCheckpoints.uidValidity],
      set: { lastUid: sql`greatest(${mailboxCheckpoints.lastUid}, excluded.last_uid)`, updatedAt: sql`now()` },
    });
}
