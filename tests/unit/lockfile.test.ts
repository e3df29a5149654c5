import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { acquireLock } from '../../src/adapters/lockfile.ts';
import { tempDir } from '../helpers/app.ts';

describe('the embedded database lock', () => {
  it('is taken by the first process; a second finds the live owner and where it serves the database', () => {
    const file = path.join(tempDir('intake-lock-'), 'db.lock');
    const mine = acquireLock(file);
    expect(mine.held).toBe(false);
    if (mine.held) return;
    mine.publish({ socketDir: '/run/x' });
    // Pretend the owner is another live process: our parent.
    const info = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...info, pid: process.ppid }));
    const other = acquireLock(file, 500);
    expect(other).toMatchObject({ held: true, info: { pid: process.ppid, socketDir: '/run/x' } });
  });

  it('takes over a lock left by a dead process', () => {
    const file = path.join(tempDir('intake-lock-'), 'db.lock');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    fs.writeFileSync(file, JSON.stringify({ pid: Number(dead), socketDir: '/gone', since: '' }));
    const lock = acquireLock(file, 500);
    expect(lock.held).toBe(false);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(process.pid);
    if (!lock.held) lock.release();
    expect(fs.existsSync(file)).toBe(false);
  });
});
