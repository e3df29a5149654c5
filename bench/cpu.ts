// CPU time of the server-side processes a child makes work: its PostgreSQL backends and Dovecot's imap
// processes. On a shared 2-core machine, CPU seconds are steadier than wall time, and the servers' share is
// invisible in the child's own rusage. Polls /proc/<pid>/stat (utime+stime) and keeps the last value seen for
// each pid, so a process that exits between polls loses at most one interval of CPU.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

const TICK = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after "(comm)": state(3) ppid(4) ... utime(14) stime(15) -> indexes 11, 12 here
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}

function ppidAndComm(pid: number): { ppid: number; comm: string } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), comm };
  } catch {
    return null;
  }
}

/** The imap processes of the Dovecot whose master pid is in $DOVECOT_DIR/run/master.pid. */
function dovecotImapPids(): number[] {
  const dir = process.env.DOVECOT_DIR || '/tmp/intake-dovecot';
  let master: number;
  try {
    master = Number(fs.readFileSync(path.join(dir, 'run', 'master.pid'), 'utf8').trim());
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = ppidAndComm(Number(name));
    if (p && p.ppid === master && p.comm === 'imap') out.push(Number(name));
  }
  return out;
}

export interface ServerCpu {
  postgresS: number;
  dovecotS: number;
}

/**
 * Starts watching. `database`: count the PostgreSQL backends connected to it (found in pg_stat_activity
 * through `adminUrl`). Dovecot imap processes that exist before the start are ignored (another client's).
 */
export function watchServerCpu(opts: { adminUrl?: string; database?: string; intervalMs?: number }) {
  const interval = opts.intervalMs ?? 200;
  const preexisting = new Set(dovecotImapPids());
  const pgSeen = new Map<number, { first: number; last: number }>();
  const dcSeen = new Map<number, { first: number; last: number }>();
  let client: pg.Client | null = null;
  let stopped = false;
  const note = (m: Map<number, { first: number; last: number }>, pid: number) => {
    const t = cpuTicks(pid);
    if (t === null) return;
    const e = m.get(pid);
    // a backend found mid-life: its CPU before we saw it is counted too (it was started for this run)
    if (!e) m.set(pid, { first: 0, last: t });
    else e.last = t;
  };
  const tick = async () => {
    for (const pid of dovecotImapPids()) if (!preexisting.has(pid)) note(dcSeen, pid);
    for (const pid of dcSeen.keys()) note(dcSeen, pid);
    if (client && opts.database) {
      try {
        const r = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [opts.database]);
        for (const { pid } of r.rows) note(pgSeen, pid);
      } catch {
        /* the database may be gone already */
      }
    }
    for (const pid of pgSeen.keys()) note(pgSeen, pid);
  };
  const ready = (async () => {
    if (opts.adminUrl && opts.database) {
      client = new pg.Client({ connectionString: opts.adminUrl });
      await client.connect();
    }
  })();
  const loop = (async () => {
    await ready;
    while (!stopped) {
      await tick();
      await new Promise((r) => setTimeout(r, interval));
    }
  })();
  return {
    ready,
    async stop(): Promise<ServerCpu> {
      stopped = true;
      await loop;
      await tick();
      if (client) await (client as pg.Client).end();
      const sum = (m: Map<number, { first: number; last: number }>) =>
        [...m.values()].reduce((s, e) => s + (e.last - e.first), 0) / TICK;
      return { postgresS: sum(pgSeen), dovecotS: sum(dcSeen) };
    },
  };
}
