// CPU of the pure decision (understand: classify, splitReply, signOff, linkStory, detectLanguage, extractItems)
// over a JSON array of MessageFacts, in this process. Round 0 is the cold pass the pipeline pays in every fresh
// process (V8 still interpreting and compiling, its compiler threads included in process CPU); rounds 1.. are warm.
//   node --import tsx bench/understand.ts <facts.json> [--rounds 5] [--json]
import fs from 'node:fs';
import { loadConfig } from '../src/config.ts';
import { understand } from '../src/pipeline/understand.ts';
import type { MessageFacts } from '../src/core/facts.ts';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: bench/understand.ts <facts.json> [--rounds N] [--json]');
  process.exit(2);
}
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 5;
const asJson = args.includes('--json');

const { campaign } = loadConfig({ ...process.env, DATABASE_URL: undefined });
const facts = JSON.parse(fs.readFileSync(file, 'utf8')) as MessageFacts[];

const out: Array<{ round: number; wallMs: number; cpuMs: number; items: number }> = [];
for (let r = 0; r < rounds; r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let items = 0;
  for (const f of facts) items += understand(f, campaign).items.length;
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  out.push({ round: r, wallMs, cpuMs: (c.user + c.system) / 1000, items });
}
if (asJson) console.log(JSON.stringify(out));
else
  for (const o of out)
    console.log(`round ${o.round}: ${o.wallMs.toFixed(0)} ms wall, ${o.cpuMs.toFixed(0)} ms CPU, ${o.items} items`);
