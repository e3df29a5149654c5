// One line of the `npm run bench` report, shared by every part of it (bench/run.ts prints the table).
export interface BenchRow {
  name: string;
  value: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** null: information only, not a goal. */
  pass: boolean | null;
}
