import type pg from 'pg';
import { countUsers } from '../db/queries/users.ts';

/** True until the first start's setup has created a user: the web app then shows setup. */
export async function isSetupRequired(pool: pg.Pool): Promise<boolean> {
  return (await countUsers(pool)) === 0;
}
