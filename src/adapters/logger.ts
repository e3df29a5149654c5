// Structured JSON logs on stderr; pretty-printed when stderr is a terminal. At info level logs carry ids,
// never addresses, subjects or bodies (supporters may be at risk if their address leaks).
import pino, { type Logger } from 'pino';
import { createRequire } from 'node:module';

export type Log = Logger;

export function makeLogger(level: string = 'info', opts: { pretty?: boolean } = {}): Log {
  const usePretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  if (usePretty) {
    // Only a terminal needs it: loaded here, not on every start.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      { level, base: undefined },
      pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true }),
    );
  }
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

export const silentLogger: Log = pino({ level: 'silent' });
