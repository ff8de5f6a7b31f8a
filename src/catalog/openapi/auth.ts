/**
 * An OpenAPI document's security schemes (3.x `components.securitySchemes`, Swagger 2.0
 * `securityDefinitions`) as the auth kinds of an app (runner/actions/auth.ts applies them).
 */
import { isObject } from './schema.ts';

export type ImportedAuth = {
  authKind: string;
  authConfig: Record<string, unknown>;
  connectionSchema: Record<string, unknown>;
};

export type SecuritySchemeSummary = { name: string; type: string; usable: boolean };

const secret = (title: string) => ({ type: 'string', title, writeOnly: true, minLength: 1 });
const object = (required: string[], properties: Record<string, unknown>) => ({
  type: 'object',
  required,
  properties,
});

const NO_AUTH: ImportedAuth = {
  authKind: 'none',
  authConfig: {},
  connectionSchema: { type: 'object' },
};

export function securitySchemesOf(doc: Record<string, unknown>): Record<string, unknown> {
  const components = isObject(doc.components) ? doc.components : {};
  const v3 = isObject(components.securitySchemes) ? components.securitySchemes : {};
  const v2 = isObject(doc.securityDefinitions) ? doc.securityDefinitions : {};
  return { ...v2, ...v3 };
}

export function summarizeSchemes(doc: Record<string, unknown>): SecuritySchemeSummary[] {
  return Object.entries(securitySchemesOf(doc)).map(([name, s]) => ({
    name,
    type: isObject(s) ? describe(s) : 'unknown',
    usable: isObject(s) && toAuth(s, []) !== undefined,
  }));
}

/**
 * The app's auth: the scheme named in `preferred`, else the first of the document's global
 * `security` requirements that Switchyard can apply, else the first usable scheme defined.
 */
export function importAuth(
  doc: Record<string, unknown>,
  preferred: string | undefined,
  warn: (message: string) => void,
): ImportedAuth {
  const schemes = securitySchemesOf(doc);
  const requirements = Array.isArray(doc.security) ? doc.security.filter(isObject) : [];
  const order: Array<[string, string[]]> = [];
  if (preferred !== undefined) {
    if (!Object.hasOwn(schemes, preferred)) {
      warn(`No security scheme named "${preferred}": using the document's default.`);
    } else order.push([preferred, scopesRequired(requirements, preferred)]);
  }
  for (const req of requirements)
    for (const [name, scopes] of Object.entries(req))
      order.push([name, Array.isArray(scopes) ? scopes.map(String) : []]);
  for (const name of Object.keys(schemes)) order.push([name, []]);
  for (const [name, scopes] of order) {
    const s = schemes[name];
    if (!isObject(s)) continue;
    const auth = toAuth(s, scopes);
    if (auth) return auth;
    warn(`Security scheme "${name}" (${describe(s)}) cannot be applied by Switchyard; skipped.`);
  }
  return NO_AUTH;
}

function scopesRequired(requirements: Record<string, unknown>[], name: string): string[] {
  for (const r of requirements)
    if (Array.isArray(r[name])) return (r[name] as unknown[]).map(String);
  return [];
}

function describe(s: Record<string, unknown>): string {
  if (s.type === 'apiKey') return `apiKey in ${String(s.in)}`;
  if (s.type === 'http') return `http ${String(s.scheme).toLowerCase()}`;
  if (s.type === 'oauth2') {
    const flows = isObject(s.flows) ? Object.keys(s.flows) : [String(s.flow)];
    return `oauth2 (${flows.join(', ')})`;
  }
  return String(s.type);
}

function toAuth(s: Record<string, unknown>, scopes: string[]): ImportedAuth | undefined {
  if (s.type === 'apiKey' && typeof s.name === 'string') {
    if (s.in === 'header' || s.in === 'query')
      return {
        authKind: 'api_key',
        authConfig: { in: s.in, name: s.name },
        connectionSchema: object(['apiKey'], { apiKey: secret(s.name) }),
      };
    if (s.in === 'cookie')
      // The runner sends api keys in a header or the query; a cookie is the Cookie header,
      // whose value the connection then holds whole (`name=value`).
      return {
        authKind: 'api_key',
        authConfig: { in: 'header', name: 'Cookie' },
        connectionSchema: object(['apiKey'], {
          apiKey: { ...secret(`Cookie (${s.name}=…)`), pattern: `^${escapeRegExp(s.name)}=` },
        }),
      };
    return undefined;
  }
  if (s.type === 'http' && typeof s.scheme === 'string') {
    const scheme = s.scheme.toLowerCase();
    if (scheme === 'bearer')
      return {
        authKind: 'bearer',
        authConfig: {},
        connectionSchema: object(['token'], { token: secret('Token') }),
      };
    if (scheme === 'basic')
      return {
        authKind: 'basic',
        authConfig: {},
        connectionSchema: object(['username', 'password'], {
          username: { type: 'string', title: 'Username' },
          password: secret('Password'),
        }),
      };
    return undefined;
  }
  if (s.type === 'basic') return toAuth({ type: 'http', scheme: 'basic' }, scopes);
  if (s.type === 'oauth2') return oauth2(s, scopes);
  return undefined;
}

function oauth2(s: Record<string, unknown>, required: string[]): ImportedAuth | undefined {
  // 3.x: flows.{authorizationCode, clientCredentials}; 2.0: flow accessCode | application.
  const flows: Record<string, unknown> = isObject(s.flows)
    ? s.flows
    : s.flow === 'accessCode'
      ? { authorizationCode: s }
      : s.flow === 'application'
        ? { clientCredentials: s }
        : {};
  const clientFields = object(['clientId', 'clientSecret'], {
    clientId: { type: 'string', title: 'Client ID' },
    clientSecret: secret('Client secret'),
  });
  const code = flows.authorizationCode;
  if (
    isObject(code) &&
    typeof code.authorizationUrl === 'string' &&
    typeof code.tokenUrl === 'string'
  ) {
    const scopes =
      required.length > 0 ? required : Object.keys(isObject(code.scopes) ? code.scopes : {});
    return {
      authKind: 'oauth2_authorization_code',
      authConfig: {
        authorizeUrl: code.authorizationUrl,
        tokenUrl: code.tokenUrl,
        scopes: scopes.filter((x) => /^\S+$/.test(x)),
        clientAuth: 'basic',
        authorizeParams: {},
      },
      connectionSchema: clientFields,
    };
  }
  const cc = flows.clientCredentials;
  if (isObject(cc) && typeof cc.tokenUrl === 'string') {
    const scopes =
      required.length > 0 ? required : Object.keys(isObject(cc.scopes) ? cc.scopes : {});
    return {
      authKind: 'oauth2_client_credentials',
      authConfig: {
        tokenUrl: cc.tokenUrl,
        ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
      },
      connectionSchema: clientFields,
    };
  }
  return undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
