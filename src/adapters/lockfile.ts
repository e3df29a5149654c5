// A lock file that keeps a second process from opening the embedded database directory (PGlite itself does
// not). The owner writes its pid and where it serves the database; a process that finds a live owner
// connects to it instead, and a lock left by a dead process is taken over.
import fs from 'node:fs';

export interface LockInfo {
  pid: number;
  socketDir: string;
  since: string;
}

export type Lock =
  | { held: true; info: LockInfo }
  | { held: false; publish(info: Partial<LockInfo>): void; release(): void };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readInfo(file: string): LockInfo | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

export function acquireLock(file: string, waitMs = 10_000): Lock {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      const info: LockInfo = { pid: process.pid, socketDir: '', since: new Date().toISOString() };
      fs.writeSync(fd, JSON.stringify(info));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      return {
        held: false,
        publish(extra) {
          const tmp = `${file}.${process.pid}.tmp`;
          fs.writeFileSync(tmp, JSON.stringify({ ...info, ...extra }), { mode: 0o600 });
          fs.renameSync(tmp, file);
        },
        release() {
          const cur = readInfo(file);
          if (cur?.pid === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const info = readInfo(file);
    if (info && info.pid !== process.pid && alive(info.pid)) {
      // The owner publishes its socket once the database is open; wait for that.
      if (info.socketDir) return { held: true, info };
      if (Date.now() > deadline) throw new Error(`the embedded database is being opened by process ${info.pid}`);
    } else if (info || Date.now() > deadline - waitMs / 2) {
      // Dead owner (or an unreadable lock that stayed unreadable): take it over. rename is atomic, so of two
      // processes racing here only one removes the stale file; the other's 'wx' then fails and it retries.
      try {
        fs.renameSync(file, `${file}.stale.${process.pid}`);
        fs.rmSync(`${file}.stale.${process.pid}`, { force: true });
      } catch {}
      continue;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}
