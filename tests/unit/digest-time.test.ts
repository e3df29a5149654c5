// When digests are due: a pure function of the clock's time, the campaign's time zone and hour, and what was sent.
import { describe, expect, it } from 'vitest';
import { addDays, dueDaily, dueFinal, latestDigestDay, localDay, zonedInstant } from '../../src/core/digest.ts';

const TZ = 'Asia/Dushanbe'; // UTC+5, no daylight saving time: 19:00 there is 14:00 UTC
const base = { timeZone: TZ, digestHour: 19, startDate: '2026-12-01' };
const at = (iso: string) => new Date(iso);

describe('dueDaily in Asia/Dushanbe at 19:00', () => {
  const cases: Array<[string, string, string | null, string | null]> = [
    ['one minute before the hour', '2026-12-08T13:59:00Z', '2026-12-07', null],
    ['at the hour', '2026-12-08T14:00:00Z', '2026-12-07', '2026-12-08'],
    ['at the hour, already sent (a restart)', '2026-12-08T14:00:30Z', '2026-12-08', null],
    ['late evening, already sent', '2026-12-08T18:59:00Z', '2026-12-08', null],
    ['after local midnight, still yesterday\'s digest day', '2026-12-08T19:30:00Z', '2026-12-08', null],
    ['next morning, yesterday missed (daemon was down)', '2026-12-09T03:00:00Z', '2026-12-07', '2026-12-08'],
    ['three days down: only the latest day', '2026-12-11T15:00:00Z', '2026-12-07', '2026-12-11'],
    ['clock jumped back a day', '2026-12-07T15:00:00Z', '2026-12-08', null],
    ['clock jumped back a week', '2026-12-01T15:00:00Z', '2026-12-08', null],
    ['first digest ever', '2026-12-01T14:00:00Z', null, '2026-12-01'],
    ['first day, before the hour: the day before is before the campaign', '2026-12-01T13:00:00Z', null, null],
    ['before the campaign', '2026-11-30T15:00:00Z', null, null],
    ['after the campaign, still daily (late mail)', '2026-12-20T15:00:00Z', '2026-12-12', '2026-12-20'],
  ];
  it.each(cases)('%s', (_name, now, lastSent, expected) => {
    expect(dueDaily({ ...base, now: at(now), lastSent })).toBe(expected);
  });

  it('at digestHour 0 the day turns at local midnight', () => {
    expect(dueDaily({ ...base, digestHour: 0, now: at('2026-12-08T19:00:00Z'), lastSent: '2026-12-08' })).toBe('2026-12-09');
    expect(dueDaily({ ...base, digestHour: 0, now: at('2026-12-08T18:59:00Z'), lastSent: '2026-12-08' })).toBe(null);
  });
});

describe('dueFinal', () => {
  const f = { timeZone: TZ, digestHour: 19, finalDate: '2026-12-12' };
  it.each<[string, boolean, boolean]>([
    ['2026-12-12T13:59:00Z', false, false],
    ['2026-12-12T14:00:00Z', false, true],
    ['2026-12-12T14:00:00Z', true, false],
    ['2026-12-15T09:00:00Z', false, true],
    ['2026-12-11T20:00:00Z', false, false],
  ])('at %s (sent: %s) -> %s', (now, sent, expected) => {
    expect(dueFinal({ ...f, now: at(now), sent })).toBe(expected);
  });
});

describe('a simulated clock over two weeks, with downtime and jumps', () => {
  it('sends each day once, at or after the hour, and never a day twice', () => {
    const sent: Array<{ day: string; at: Date }> = [];
    let last: string | null = null;
    let t = at('2026-11-29T00:00:00Z').getTime();
    const end = at('2026-12-14T00:00:00Z').getTime();
    const down = [at('2026-12-04T10:00:00Z').getTime(), at('2026-12-06T02:00:00Z').getTime()]; // misses the 4th and 5th
    let jumped = false;
    while (t < end) {
      const now = new Date(t);
      if (!(t >= down[0] && t < down[1])) {
        const day = dueDaily({ ...base, now, lastSent: last });
        if (day) {
          sent.push({ day, at: now });
          last = day;
        }
      }
      t += 7 * 60_000;
      // The wall clock jumps back 30 hours once, on the 9th after the digest.
      if (!jumped && t >= at('2026-12-09T16:00:00Z').getTime()) {
        t -= 30 * 3600_000;
        jumped = true;
      }
    }
    const days = sent.map((s) => s.day);
    expect(new Set(days).size).toBe(days.length);
    expect(days).toEqual(['2026-12-01', '2026-12-02', '2026-12-03', '2026-12-05', '2026-12-06', '2026-12-07', '2026-12-08', '2026-12-09', '2026-12-10', '2026-12-11', '2026-12-12', '2026-12-13']);
    for (const s of sent) {
      if (s.day === '2026-12-05') {
        // The one missed-day digest goes out as soon as the daemon is back.
        expect(s.at.getTime()).toBeGreaterThanOrEqual(down[1]);
        expect(s.at.getTime()).toBeLessThan(down[1] + 7 * 60_000);
        continue;
      }
      expect(localDay(s.at, TZ)).toBe(s.day);
      expect(s.at.getTime()).toBeGreaterThanOrEqual(zonedInstant(s.day, 19, TZ).getTime());
      expect(s.at.getTime()).toBeLessThan(zonedInstant(s.day, 19, TZ).getTime() + 7 * 60_000);
    }
  });
});

describe('calendar helpers', () => {
  it('localDay follows the zone, not UTC', () => {
    expect(localDay(at('2026-12-08T19:30:00Z'), TZ)).toBe('2026-12-09');
    expect(localDay(at('2026-12-08T18:59:00Z'), TZ)).toBe('2026-12-08');
  });
  it('addDays crosses months and years', () => {
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });
  it('zonedInstant handles offsets and daylight saving time', () => {
    expect(zonedInstant('2026-12-08', 19, TZ).toISOString()).toBe('2026-12-08T14:00:00.000Z');
    expect(zonedInstant('2026-01-10', 9, 'Europe/Berlin').toISOString()).toBe('2026-01-10T08:00:00.000Z');
    expect(zonedInstant('2026-07-10', 9, 'Europe/Berlin').toISOString()).toBe('2026-07-10T07:00:00.000Z');
  });
  it('latestDigestDay is yesterday before the hour', () => {
    expect(latestDigestDay(at('2026-12-08T10:00:00Z'), TZ, 19)).toBe('2026-12-07');
    expect(latestDigestDay(at('2026-12-08T14:00:00Z'), TZ, 19)).toBe('2026-12-08');
  });
});
