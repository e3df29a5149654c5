// Staff review: which status changes are allowed, as a pure function returning a value or a reason.
import type { ItemStatus } from '../db/schema.ts';

export type ReviewAction = 'approve' | 'reject';

export function reviewTransition(
  item: { id: number; status: ItemStatus; story: number | null },
  action: ReviewAction,
  reason?: string,
): { ok: true; to: ItemStatus } | { ok: false; error: string } {
  const to: ItemStatus = action === 'approve' ? 'approved' : 'rejected';
  if (item.status === to) return { ok: false, error: `item ${item.id} is already ${to}` };
  if (action === 'approve' && item.story === null)
    return { ok: false, error: `item ${item.id} is not linked to a story: assign one first (intake assign ${item.id} <story>)` };
  if (action === 'reject' && !reason?.trim()) return { ok: false, error: 'a reason is needed to reject (--reason "...")' };
  return { ok: true, to };
}
