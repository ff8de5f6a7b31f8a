/**
 * Whatever a client sends, the version-2 check answers E_VALIDATION or accepts: the examples
 * of docs/workflows.md, each mutated at a random place with a random value (a fixed seed, so a
 * failure reproduces), never make it throw anything else (a TypeError would be E_INTERNAL).
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { checkDefinitionV2 } from '../../src/catalog/definition-v2.ts';
import { isSwitchyardError } from '../../src/model/errors.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const doc = readFileSync(new URL('../../docs/workflows.md', import.meta.url), 'utf8');
const start = doc.indexOf('## Definition version 2');
const part = doc.slice(start, doc.indexOf('\n## ', start + 1));
const examples = [...part.matchAll(/```json\n([\s\S]*?)```/g)].map(
  (m) => JSON.parse(m[1]!.replace(/"<[^>]+>"/g, '"00000000-0000-4000-8000-000000000001"')) as Json,
);

const junk: Json[] = [
  null,
  1,
  -1,
  1.5,
  'x',
  '',
  '{{',
  '{{ }}',
  '{{ a ?? }}',
  '{{ steps.zz.output }}',
  [],
  {},
  { goto: 'zz' },
  true,
  'toString',
  '__proto__',
  'constructor',
  { steps: 1 },
  [null],
];
const keys = ['type', 'goto', 'steps', 'branches', 'default', 'onFailure', 'if', 'when', 'items'];

function pathsOf(v: Json, at: string[] = [], out: string[][] = []): string[][] {
  if (at.length > 0) out.push(at);
  if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, k], out);
  return out;
}

it('answers E_VALIDATION or accepts, for 5,000 mutated examples', () => {
  let seed = 15;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  const crashes: string[] = [];
  for (let n = 0; n < 5000; n++) {
    const definition = structuredClone(examples[random(examples.length)]!);
    const paths = pathsOf(definition);
    const path = paths[random(paths.length)]!;
    let parent = definition as Record<string, Json>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, Json>;
    const last = path.at(-1)!;
    const how = random(10);
    if (how < 2) delete parent[last];
    else if (how < 3) parent[keys[random(keys.length)]!] = junk[random(junk.length)]!;
    else parent[last] = junk[random(junk.length)]!;
    try {
      checkDefinitionV2(definition);
    } catch (err) {
      if (!isSwitchyardError(err, 'E_VALIDATION'))
        crashes.push(`${path.join('.')}: ${String(err)}`);
    }
  }
  expect(crashes.slice(0, 5)).toEqual([]);
});
