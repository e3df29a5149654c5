// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time grouped by where the code lives (a package
// under node_modules, a file of src/, node internals, GC, idle) and the top functions.
//   node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 20]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time charged to the first frame up the stack that is a package or a file of ours (not node:*). */
  owners: Array<{ owner: string; ms: number; pct: number }>;
  groups: Array<{ group: string; ms: number; pct: number }>;
  functions: Array<{ fn: string; ms: number; pct: number }>;
}

function groupOf(url: string, fn: string): string {
  if (!url) {
    if (fn === '(idle)') return '(idle: waiting on I/O)';
    if (fn === '(garbage collector)') return '(garbage collector)';
    if (fn === '(program)') return '(program: native, not JS)';
    return `(native) ${fn}`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(?:deps\/)?/, 'node:').split('/').slice(0, 2).join('/');
  const src = /\/(src|bench|tests)\/(.*)$/.exec(url);
  if (src) return `${src[1]}/${src[2]}`;
  return url;
}

export function summarize(file: string, top = 20): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owners = new Map<string, number>();
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { url, functionName, lineNumber } = n.callFrame;
    const g = groupOf(url, functionName);
    groups.set(g, (groups.get(g) ?? 0) + us);
    const where = url ? `${groupOf(url, functionName)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const special = ['(idle)', '(program)', '(garbage collector)', '(root)'].includes(functionName);
    let owner = special ? g : '(node internals only)';
    if (!special) {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame;
        const og = f.url ? groupOf(f.url, f.functionName) : '';
        if (og && !og.startsWith('node:') && og !== 'tsx') {
          owner = og;
          break;
        }
      }
    }
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    total += us;
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ k, ms: Math.round(us / 1000), pct: Math.round((1000 * us) / total) / 10 }));
  return {
    totalMs: Math.round(total / 1000),
    owners: rows(owners).map((r) => ({ owner: r.k, ms: r.ms, pct: r.pct })),
    groups: rows(groups).map((r) => ({ group: r.k, ms: r.ms, pct: r.pct })),
    functions: rows(fns).map((r) => ({ fn: r.k, ms: r.ms, pct: r.pct })),
  };
}

export function printSummary(s: ProfileSummary, label: string): void {
  console.log(`\n${label}: ${s.totalMs} ms sampled`);
  console.log('  self time charged to the nearest package / file of ours up the stack (native calls included):');
  for (const g of s.owners) console.log(`    ${String(g.ms).padStart(7)} ms ${String(g.pct).padStart(5)}%  ${g.owner}`);
  console.log('  self time by package / file:');
  for (const g of s.groups) console.log(`    ${String(g.ms).padStart(7)} ms ${String(g.pct).padStart(5)}%  ${g.group}`);
  console.log('  top functions (self time):');
  for (const f of s.functions.slice(0, 15)) console.log(`    ${String(f.ms).padStart(7)} ms ${String(f.pct).padStart(5)}%  ${f.fn}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  const i = process.argv.indexOf('--top');
  printSummary(summarize(file, i > 0 ? Number(process.argv[i + 1]) : 20), path.basename(file));
}
