// Many rows in one INSERT with one parameter: the rows as a JSON array, spread by jsonb_to_recordset.
// drizzle's insert().values() makes a parameter of every cell and checks each one several times; for the
// hundreds of rows a chunk of mail inserts, building that statement cost more than running it. Here the
// column names and types still come from the drizzle table, so the schema stays the one source.
import { getTableColumns, getTableName, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Queryable } from './messages.ts';

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** A JSON text Postgres accepts as jsonb: no lone surrogate (a cut at a length limit can split a pair). */
export function jsonbText(value: unknown): string {
  const json = JSON.stringify(value);
  // JSON.stringify writes a lone surrogate as \udXXX, which jsonb refuses; only then pay for a replacer.
  if (!/\\ud[89a-f][0-9a-f]{2}/i.test(json)) return json;
  return JSON.stringify(value, (_k, v) => (typeof v === 'string' ? v.toWellFormed() : v));
}

export interface InsertRowsOptions<R extends Record<string, PgColumn>> {
  /** SQL after the SELECT, e.g. sql`ON CONFLICT (key) DO NOTHING`. */
  onConflict?: SQL;
  /** Columns to return, keyed by the name each gets in the result (as drizzle's returning()). */
  returning?: R;
}

/**
 * Inserts `rows` into `table` in one statement. Every row must give the same columns (a column left out of
 * all of them takes its default; left out of some only is an error, as the statement has one shape).
 * Returns the `returning` columns, mapped from the driver's values as drizzle would.
 */
export async function insertRows<T extends PgTable, R extends Record<string, PgColumn> = Record<string, never>>(
  q: Queryable,
  table: T,
  rows: Array<T['$inferInsert']>,
  opts: InsertRowsOptions<R> = {},
): Promise<Array<{ [K in keyof R]: R[K]['_']['data'] | (R[K]['_']['notNull'] extends true ? never : null) }>> {
  if (!rows.length) return [];
  const given = givenColumns(table, rows as Array<Record<string, unknown>>);
  const ret = Object.entries(opts.returning ?? {}) as Array<[string, PgColumn]>;
  const query = insertStatement(table, given, toRecords(given, rows as Array<Record<string, unknown>>), ret, opts.onConflict);
  const result = (await q.execute(query)) as unknown as { rows: Array<Record<string, unknown>> };
  return ret.length ? (fromDriver(ret, result.rows) as never) : [];
}

// The steps of insertRows are separate functions on purpose: a few small ones optimise quickly, where one
// large async function, called with every table's rows, was recompiled again and again (~80 ms each time).

/** The columns the rows give (the same for every row, or an error). */
function givenColumns(table: PgTable, rows: Array<Record<string, unknown>>): Array<[string, PgColumn]> {
  const columns = Object.entries(getTableColumns(table)) as Array<[string, PgColumn]>;
  const given = columns.filter(([prop]) => rows[0][prop] !== undefined);
  const isGiven = new Set(given.map(([prop]) => prop));
  for (const r of rows)
    for (const [prop] of columns)
      if ((r[prop] !== undefined) !== isGiven.has(prop))
        throw new Error(`insertRows into ${getTableName(table)}: every row must give the same columns (${prop})`);
  return given;
}

/** The JSON keys are the column names; values as the driver would send them (a Date as ISO text, json as is). */
function toRecords(given: Array<[string, PgColumn]>, rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const conv = given.map(([prop, col]) => ({
    prop,
    name: col.name,
    map: col.columnType === 'PgJsonb' || col.columnType === 'PgJson' ? null : (v: unknown) => col.mapToDriverValue(v),
  }));
  return rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const c of conv) {
      const v = r[c.prop];
      o[c.name] = v === null || !c.map ? v : c.map(v);
    }
    return o;
  });
}

function insertStatement(
  table: PgTable,
  given: Array<[string, PgColumn]>,
  records: Array<Record<string, unknown>>,
  ret: Array<[string, PgColumn]>,
  onConflict: SQL | undefined,
): SQL {
  const names = given.map(([, c]) => ident(c.name)).join(', ');
  const types = given.map(([, c]) => `${ident(c.name)} ${c.getSQLType()}`).join(', ');
  const query = sql`INSERT INTO ${table} (${sql.raw(names)}) SELECT ${sql.raw(names)} FROM jsonb_to_recordset(${jsonbText(records)}::jsonb) AS r(${sql.raw(types)})`;
  if (onConflict) query.append(sql` ${onConflict}`);
  if (ret.length) query.append(sql.raw(` RETURNING ${ret.map(([k, c]) => `${ident(c.name)} AS ${ident(k)}`).join(', ')}`));
  return query;
}

/** The returned rows, mapped from the driver's values as drizzle would. */
function fromDriver(ret: Array<[string, PgColumn]>, rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return rows.map((row) => {
    const o: Record<string, unknown> = {};
    for (const [k, c] of ret) o[k] = row[k] === null || row[k] === undefined ? null : c.mapFromDriverValue(row[k]);
    return o;
  });
}
