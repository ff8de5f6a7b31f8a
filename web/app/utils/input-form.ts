/**
 * The fields of a form generated from a JSON Schema of an object (its top-level properties:
 * text, number, boolean or a choice), for the manual run's input. A schema with nested
 * objects or arrays is better edited as JSON: no fields then.
 */
export type InputField = {
  name: string;
  label: string;
  type: string;
  hint?: string;
  choices?: unknown[];
};

type Property = {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
};
const simple = new Set(['string', 'number', 'integer', 'boolean']);

export function inputFields(schema: unknown): InputField[] {
  const s = (schema ?? {}) as { properties?: Record<string, Property>; required?: string[] };
  const props = Object.entries(s.properties ?? {});
  if (props.length === 0) return [];
  const required = new Set(s.required ?? []);
  const fields: InputField[] = [];
  for (const [name, p] of props) {
    const type = (Array.isArray(p.type) ? p.type[0] : p.type) ?? 'string';
    if (!simple.has(type)) return [];
    fields.push({
      name,
      label: `${p.title ?? name}${required.has(name) ? '' : ' (optional)'}`,
      type,
      ...(p.description ? { hint: p.description } : {}),
      ...(Array.isArray(p.enum) ? { choices: p.enum } : {}),
    });
  }
  // Required fields first (the stored schema does not keep its keys' order).
  return [...fields].sort((a, b) => Number(required.has(b.name)) - Number(required.has(a.name)));
}
