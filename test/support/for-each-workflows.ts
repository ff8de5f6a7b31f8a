/** forEach test helpers: a published version-2 workflow (engine-v2.ts), and the rows a loop leaves. */
import type pg from 'pg';
import type { RunId } from '../../src/model/ids.ts';

export { publishV2 } from './engine-v2.ts';

export type StepRow = {
  step_id: string;
  step_index: number;
  item_index: number | null;
  attempt: number;
  status: string;
  output: unknown;
  error_code: string | null;
};

export async function stepRowsOf(owner: pg.Pool, runId: RunId): Promise<StepRow[]> {
  const res = await owner.query<StepRow>(
    `select step_id, step_index, item_index, attempt, status, output, error_code from step_runs
      where run_id = $1 order by step_index, item_index nulls first, attempt`,
    [runId],
  );
  return res.rows;
}

export type RunRow = { status: string; output: unknown; error: { code: string } | null };

export async function runRowOf(owner: pg.Pool, runId: RunId): Promise<RunRow> {
  const res = await owner.query<RunRow>(
    'select status, output, error from workflow_runs where id = $1',
    [runId],
  );
  return res.rows[0]!;
}

export async function jobCountOf(owner: pg.Pool, runId: RunId): Promise<number> {
  const res = await owner.query<{ n: number }>(
    'select count(*)::int as n from jobs where run_id = $1',
    [runId],
  );
  return res.rows[0]!.n;
}
