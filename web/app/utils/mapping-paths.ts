/**
 * The `{{ … }}` paths a step may reference, with their JSON types: every path in the trigger's
 * sample payload and in the sample outputs of earlier steps (docs/workflows.md, "The mapping
 * language"). Used for completion in the editor and to underline references that do not exist.
 */
export type MappingPath = { path: string; type: string };

const MAX_PATHS = 500;
const MAX_DEPTH = 6;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function segment(key: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

export function pathsOf(
  root: string,
  value: unknown,
  out: MappingPath[] = [],
  depth = 0,
): MappingPath[] {
  if (out.length >= MAX_PATHS) return out;
  out.push({ path: root, type: typeOf(value) });
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) {
    if (value.length > 0) pathsOf(`${root}[0]`, value[0], out, depth + 1);
    return out;
  }
  for (const [k, v] of Object.entries(value)) pathsOf(`${root}${segment(k)}`, v, out, depth + 1);
  return out;
}

/** Paths available to step `index`: the trigger, `run`, and earlier steps' outputs. */
export function availablePaths(
  trigger: unknown,
  earlierOutputs: { id: string; output: unknown }[],
): MappingPath[] {
  const out: MappingPath[] = [];
  pathsOf('trigger', trigger ?? { body: {}, headers: {}, query: {} }, out);
  for (const p of ['run.id', 'run.attempt', 'run.time', 'run.workflowId']) {
    out.push({ path: p, type: p === 'run.attempt' ? 'number' : 'string' });
  }
  for (const s of earlierOutputs) pathsOf(`steps.${s.id}.output`, s.output ?? {}, out);
  return out;
}

/** References in a JSON value's strings that name no known path (when a sample is known). */
export function unknownReferences(value: unknown, known: MappingPath[]): string[] {
  const knownSet = new Set(known.map((k) => k.path));
  const found: string[] = [];
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
        const path = m[1] ?? '';
        const root = path.split(/[.[]/)[0];
        // Only trigger and steps have samples; run.* is always there.
        if ((root === 'trigger' || root === 'steps') && !knownSet.has(path)) found.push(path);
      }
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(value);
  return found;
}

/** A sample value shaped like a JSON Schema, for completion before a step has ever run. */
export function sampleOfSchema(schema: unknown, depth = 0): unknown {
  const s = (schema ?? {}) as {
    type?: string | string[];
    properties?: Record<string, unknown>;
    items?: unknown;
    example?: unknown;
    default?: unknown;
  };
  if (s.example !== undefined) return s.example;
  if (s.default !== undefined) return s.default;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (depth > MAX_DEPTH) return null;
  if (type === 'object' || s.properties) {
    return Object.fromEntries(
      Object.entries(s.properties ?? {}).map(([k, v]) => [k, sampleOfSchema(v, depth + 1)]),
    );
  }
  if (type === 'array') return [sampleOfSchema(s.items, depth + 1)];
  if (type === 'number' || type === 'integer') return 0;
  if (type === 'boolean') return false;
  if (type === 'string') return '';
  return {};
}
