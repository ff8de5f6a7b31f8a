/**
 * A unique violation from PostgreSQL (23505) on a catalog write is the builder's mistake, not
 * ours: it answers E_CONFLICT naming the field (from the violated key's last column), never
 * E_INTERNAL. The database stays the judge, so two concurrent creates cannot both win.
 */
import { SwitchyardError } from '../model/errors.ts';

type PgError = { code?: string; detail?: string; constraint?: string };

/** Runs `write`; a unique violation becomes E_CONFLICT with `field` (e.g. `key`). */
export async function conflictAsError<T>(entity: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const e = err as PgError;
    if (e.code !== '23505') throw err;
    const field = violatedField(e);
    throw new SwitchyardError(
      'E_CONFLICT',
      field === 'version'
        ? `Another version of this ${entity} was saved at the same moment; save again.`
        : `Another ${entity} in this tenant already has this ${field}: choose another ${field}.`,
      { field },
    );
  }
}

/** `Key (tenant_id, app_id, key)=(…) already exists.` → `key` (values are not echoed). */
function violatedField(e: PgError): string {
  const columns = /^Key \(([^)]*)\)=/.exec(e.detail ?? '')?.[1]?.split(',') ?? [];
  const column = columns.map((c) => c.trim()).at(-1) ?? 'key';
  return column.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}
