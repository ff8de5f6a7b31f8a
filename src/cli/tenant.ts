import { parseArgs } from 'node:util';
import { createTenantWithOwner } from '../accounts/create-tenant.ts';
import { openDatabase } from '../db/connect.ts';
import { createContext } from './context.ts';
import { UsageError } from './usage.ts';

export async function tenantCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'create') throw new UsageError(`Unknown tenant command: ${sub ?? '(none)'}`);
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      'owner-email': { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.name || !values['owner-email'])
    throw new UsageError('tenant create needs --name and --owner-email');
  const { config, logger } = createContext({ logsTo: 'stderr', name: 'switchyard-tenant' });
  const db = await openDatabase(config.database, {
    logger,
    migrate: true,
    applicationName: 'switchyard-cli',
  });
  try {
    const t = await createTenantWithOwner(db.pool, {
      name: values.name,
      ownerEmail: values['owner-email'],
      actor: { kind: 'system', id: 'cli' },
    });
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ tenantId: t.tenantId, tenantName: t.tenantName, ownerUserId: t.ownerUserId, ownerEmail: t.ownerEmail, apiTokenId: t.apiTokenId, apiToken: t.apiToken })}\n`,
      );
    } else {
      process.stdout.write(
        `Tenant "${t.tenantName}" created (id ${t.tenantId}); owner ${t.ownerEmail}.\n` +
          `Owner API token (shown once, store it now):\n${t.apiToken}\n` +
          `To sign in to the web UI, set the owner's password: switchyard user set-password --email ${t.ownerEmail}\n`,
      );
    }
  } finally {
    await db.close();
  }
}
