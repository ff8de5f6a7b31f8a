/**
 * deploy/prometheus/alerts.yml stays true to the code: every rule is well formed and names only
 * metrics that Switchyard exposes (histograms through their _bucket/_count/_sum series).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { Histogram } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/observability/metrics.ts';
import { registerQueueGauges } from '../../src/observability/queue-gauges.ts';
import { testLogger } from '../support/db.ts';

type Rule = { alert: string; expr: string; for?: string; annotations?: { summary?: string } };

describe('alert rules', () => {
  it('are well formed and use only metrics Switchyard exposes', async () => {
    const file = path.resolve(import.meta.dirname, '../../deploy/prometheus/alerts.yml');
    const doc = parse(await readFile(file, 'utf8')) as { groups: { rules: Rule[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(0);

    const metrics = createMetrics();
    // Never connected: only the names are read, no gauge is collected.
    const pool = new pg.Pool({ connectionString: 'postgres://unused@127.0.0.1:1/none' });
    registerQueueGauges(metrics.registry, { pool, logger: testLogger });
    const exposed = new Set<string>();
    for (const m of metrics.registry.getMetricsAsArray()) {
      exposed.add(m.name);
      if (m instanceof Histogram)
        for (const s of ['_bucket', '_count', '_sum']) exposed.add(m.name + s);
    }

    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Switchyard[A-Za-z]+$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      const used = rule.expr.match(/switchyard_[a-z_]+/g) ?? [];
      expect(used.length, rule.alert).toBeGreaterThan(0);
      for (const name of used) expect(exposed, `${rule.alert} uses ${name}`).toContain(name);
    }
    await pool.end();
  });
});
