/**
 * One tenant's clean-up: finished runs (with step runs, dead letters, leftover jobs), expired
 * idempotency keys, ended invitations, execution logs when the tenant keeps them for less than
 * the operator, and the oldest audit events. Each batch is its own short transaction under the
 * tenant's RLS; the tenant's audit trail records what went (`retention.purged`).
 */
import type { PoolClient } from 'pg';
import { countPurgeableAuditEvents, purgeAuditEvents } from '../db/queries/audit-events.ts';
import {
  countExecutionLogsBefore,
  deleteExecutionLogsBefore,
} from '../db/queries/execution-logs.ts';
import { deleteExpiredIdempotencyKeys } from '../db/queries/idempotency-keys.ts';
import { countEndedInvitations, deleteEndedInvitations } from '../db/queries/invitations.ts';
import {
  countExpiredIdempotencyKeys,
  countFinishedRuns,
  countFinishedTestRuns,
  deleteFinishedRuns,
  deleteFinishedTestRuns,
} from '../db/queries/retention.ts';
import { deleteUnusedTestVersions } from '../db/queries/workflow-versions.ts';
import { selectTenantSettings } from '../db/queries/tenant-settings.ts';
import { withTenant } from '../db/tenant.ts';
import type { TenantId } from '../model/ids.ts';
import { cutoffFor, effectiveRetention, type RetentionDefaults } from '../model/retention.ts';
import { recordAudit } from '../observability/audit.ts';
import { addCounts, emptyCounts, totalOf, type RetentionCounts } from './report.ts';
import { ENDED_ACCESS_GRACE_DAYS, type RetentionDeps, type RetentionOptions } from './deps.ts';

type Cutoffs = {
  days: RetentionDefaults;
  runsBefore: Date;
  /** Finished test runs (testWorkflow) go sooner: RETENTION_TEST_RUN_HOURS. */
  testRunsBefore: Date;
  invitationsBefore: Date;
  /** Null when the operator's partition drops already cover the tenant's log retention. */
  logsBefore: Date | null;
};

export async function purgeTenant(
  deps: RetentionDeps,
  tenantId: TenantId,
  opts: RetentionOptions,
): Promise<RetentionCounts> {
  const now = deps.clock.now();
  const cutoffs = await tenantCutoffs(deps, tenantId, now);
  if (opts.dryRun) return countTenant(deps, tenantId, now, cutoffs);
  const limit = deps.config.batchSize;
  const counts = emptyCounts();
  const drain = async (fn: (db: PoolClient) => Promise<number>): Promise<number> => {
    let total = 0;
    for (;;) {
      const n = await withTenant(deps.pool, tenantId, fn);
      total += n;
      if (n < limit || opts.signal?.aborted) return total;
    }
  };
  await drain(async (db) => {
    const r = await deleteFinishedRuns(db, { tenantId, before: cutoffs.runsBefore, limit });
    addCounts(counts, r);
    return r.workflowRuns;
  });
  await drain(async (db) => {
    const r = await deleteFinishedTestRuns(db, { tenantId, before: cutoffs.testRunsBefore, limit });
    addCounts(counts, r);
    return r.workflowRuns;
  });
  // The drafts those runs tested: versions nobody can list, publish or run again.
  await drain((db) =>
    deleteUnusedTestVersions(db, { tenantId, before: cutoffs.testRunsBefore, limit }),
  );
  counts.idempotencyKeys = await drain((db) =>
    deleteExpiredIdempotencyKeys(db, { tenantId, now, limit }),
  );
  counts.invitations = await drain((db) =>
    deleteEndedInvitations(db, { tenantId, before: cutoffs.invitationsBefore, limit }),
  );
  const logsBefore = cutoffs.logsBefore;
  if (logsBefore) {
    counts.executionLogs = await drain((db) =>
      deleteExecutionLogsBefore(db, { tenantId, before: logsBefore, limit }),
    );
  }
  counts.auditEvents = await drain((db) =>
    purgeAuditEvents(db, { tenantId, keepDays: cutoffs.days.auditDays, limit }),
  );
  // Expiring idempotency keys alone are routine (hourly on a busy tenant), not worth an event.
  if (totalOf({ ...counts, idempotencyKeys: 0 }) > 0) {
    await withTenant(deps.pool, tenantId, (db) =>
      recordAudit(db, {
        tenantId,
        actorKind: 'system',
        actorId: 'retention',
        action: 'retention.purged',
        targetKind: 'tenant',
        targetId: tenantId,
        metadata: { deleted: withoutZeros(counts), keptDays: cutoffs.days },
      }),
    );
  }
  return counts;
}

async function tenantCutoffs(deps: RetentionDeps, tenantId: TenantId, now: Date): Promise<Cutoffs> {
  const settings = await withTenant(deps.pool, tenantId, (db) =>
    selectTenantSettings(db, { tenantId }),
  );
  const defaults = deps.config.defaults;
  const days = effectiveRetention(defaults, settings.retention);
  return {
    days,
    runsBefore: cutoffFor(now, days.runDays),
    testRunsBefore: new Date(now.getTime() - deps.config.testRunHours * 3_600_000),
    invitationsBefore: cutoffFor(now, ENDED_ACCESS_GRACE_DAYS),
    logsBefore:
      days.executionLogDays < defaults.executionLogDays
        ? cutoffFor(now, days.executionLogDays)
        : null,
  };
}

async function countTenant(
  deps: RetentionDeps,
  tenantId: TenantId,
  now: Date,
  cutoffs: Cutoffs,
): Promise<RetentionCounts> {
  return withTenant(deps.pool, tenantId, async (db) => {
    const counts = emptyCounts();
    addCounts(counts, await countFinishedRuns(db, { tenantId, before: cutoffs.runsBefore }));
    addCounts(
      counts,
      await countFinishedTestRuns(db, { tenantId, before: cutoffs.testRunsBefore }),
    );
    counts.idempotencyKeys = await countExpiredIdempotencyKeys(db, { tenantId, now });
    counts.invitations = await countEndedInvitations(db, {
      tenantId,
      before: cutoffs.invitationsBefore,
    });
    if (cutoffs.logsBefore) {
      counts.executionLogs = await countExecutionLogsBefore(db, {
        tenantId,
        before: cutoffs.logsBefore,
      });
    }
    counts.auditEvents = await countPurgeableAuditEvents(db, {
      tenantId,
      keepDays: cutoffs.days.auditDays,
    });
    return counts;
  });
}

function withoutZeros(c: RetentionCounts): Partial<RetentionCounts> {
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v > 0));
}
