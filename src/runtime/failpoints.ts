// Named fail points for crash tests: INTAKE_FAILPOINTS="ingest.after-raw=crash,parse.before-commit=throw:3".
// Unset in production, where failpoint() is a cheap lookup that does nothing.
// Actions: crash (SIGKILL ourselves: no cleanup, like a power cut for the process), throw, and an optional
// ":N" to fire only on the N-th pass (1-based).
const spec = new Map<string, { action: string; nth: number }>();
const hits = new Map<string, number>();

function load(raw: string | undefined) {
  spec.clear();
  for (const part of (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, rest = 'throw'] = part.split('=');
    const [action, nth] = rest.split(':');
    spec.set(name, { action, nth: nth ? Number(nth) : 1 });
  }
}
load(process.env.INTAKE_FAILPOINTS);

export function setFailpoints(raw: string | undefined): void {
  load(raw);
  hits.clear();
}

export function failpoint(name: string): void {
  if (spec.size === 0) return;
  const fp = spec.get(name);
  if (!fp) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n !== fp.nth) return;
  if (fp.action === 'crash') process.kill(process.pid, 'SIGKILL');
  throw new Error(`failpoint ${name}`);
}
