/**
 * Which of a connection's fields are settings and which are secrets. Secrets are the fields
 * the app's auth kind reads (src/api/graphql/types/connections.ts `authSecrets`), plus schema
 * properties marked `writeOnly` or named like a secret (the built-in webhook app's
 * `signingSecret`); everything else in the app's connectionSchema is a plain setting.
 */
export type ConnectionField = {
  name: string;
  label: string;
  hint?: string;
  type: string;
  choices?: unknown[];
};

const authSecrets: Record<string, string[]> = {
  api_key: ['apiKey'],
  bearer: ['token'],
  basic: ['username', 'password'],
  oauth2_client_credentials: ['clientId', 'clientSecret'],
  oauth2_authorization_code: ['clientId', 'clientSecret'],
};
const secretLabels: Record<string, string> = {
  apiKey: 'API key',
  token: 'Token',
  username: 'Username',
  password: 'Password',
  clientId: 'Client id',
  clientSecret: 'Client secret',
};
const secretLike = /secret|password|token|apikey|privatekey/i;

type PropertySchema = {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  writeOnly?: boolean;
};

export function connectionFields(app: { authKind: string; connectionSchema: unknown } | null): {
  config: ConnectionField[];
  secret: ConnectionField[];
} {
  if (!app) return { config: [], secret: [] };
  const schema = (app.connectionSchema ?? {}) as {
    properties?: Record<string, PropertySchema>;
    required?: string[];
  };
  const required = new Set(schema.required ?? []);
  const secret: ConnectionField[] = (authSecrets[app.authKind] ?? []).map((name) => ({
    name,
    label: secretLabels[name] ?? name,
    type: 'string',
  }));
  const config: ConnectionField[] = [];
  for (const [name, p] of Object.entries(schema.properties ?? {})) {
    if (secret.some((s) => s.name === name)) continue;
    const type = (Array.isArray(p.type) ? p.type[0] : p.type) ?? 'string';
    const field: ConnectionField = {
      name,
      label: `${p.title ?? name}${required.has(name) ? '' : ' (optional)'}`,
      type,
      ...(p.description ? { hint: p.description } : {}),
      ...(Array.isArray(p.enum) ? { choices: p.enum } : {}),
    };
    if (p.writeOnly === true || secretLike.test(name)) secret.push(field);
    else config.push(field);
  }
  return { config, secret };
}
