/**
 * deploy/prometheus/alerts.yml and deploy/grafana/switchyard.json stay true to the code: they
 * are well formed and name only metrics Switchyard exposes (histograms through their
 * _bucket/_count/_sum series).
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

const deploy = path.resolve(import.meta.dirname, '../../deploy');

/** The series names a Switchyard process exposes (read from its registry, nothing collected). */
async function exposedSeries(): Promise<Set<string>> {
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
  await pool.end();
  return exposed;
}

function expectOnlyExposed(where: string, expr: string, exposed: Set<string>): void {
  const used = expr.match(/switchyard_[a-z0-9_]+/g) ?? [];
  expect(used.length, `${where} uses no Switchyard metric`).toBeGreaterThan(0);
  for (const name of used) expect(exposed, `${where} uses ${name}`).toContain(name);
}

describe('monitoring configuration', () => {
  it('alert rules are well formed and use only metrics Switchyard exposes', async () => {
    type Rule = { alert: string; expr: string; annotations?: { summary?: string } };
    const doc = parse(await readFile(path.join(deploy, 'prometheus/alerts.yml'), 'utf8')) as {
      groups: { rules: Rule[] }[];
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(0);
    const exposed = await exposedSeries();
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Switchyard[A-Za-z]+$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expectOnlyExposed(rule.alert, rule.expr, exposed);
    }
  });

  it('the Grafana dashboard queries only metrics Switchyard exposes', async () => {
    type Panel = { id: number; title: string; targets: { refId: string; expr: string }[] };
    const dash = JSON.parse(
      await readFile(path.join(deploy, 'grafana/switchyard.json'), 'utf8'),
    ) as { uid: string; panels: Panel[] };
    expect(dash.uid).toBeTruthy();
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    const exposed = await exposedSeries();
    for (const panel of dash.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets)
        expectOnlyExposed(`${panel.title} (${t.refId})`, t.expr, exposed);
    }
  });
});
