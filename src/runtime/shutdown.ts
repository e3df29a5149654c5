// Graceful shutdown: the first SIGINT/SIGTERM asks every loop to stop (in-flight work finishes or rolls back);
// a second one, or the deadline passing, exits at once.
import type { Log } from '../adapters/logger.ts';

export function onShutdown(log: Log, stop: () => void, deadlineMs = 30_000): () => void {
  let stopping = false;
  const handler = (sig: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal: sig }, 'stopping');
    setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown deadline passed: exiting');
      process.exit(1);
    }, deadlineMs).unref();
    stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
