/** Small OpenAPI documents in each supported format, for the import tests. */

/** OpenAPI 3.1: server variables, apiKey auth, path/query/header parameters, a circular schema. */
export function treeApi31(
  over: { version?: string; dropDelete?: boolean; renameList?: string } = {},
) {
  const paths: Record<string, unknown> = {
    '/trees': {
      get: {
        operationId: 'listTrees',
        summary: over.renameList ?? 'List trees',
        parameters: [
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, default: 20 } },
          { name: 'X-Request-Id', in: 'header', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'ok',
            content: {
              'application/json': {
                schema: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
              },
            },
          },
        },
      },
      post: {
        operationId: 'createTree',
        summary: 'Create a tree',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } },
        },
        responses: {
          '201': {
            description: 'created',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } },
          },
        },
      },
    },
    '/trees/{treeId}': {
      parameters: [{ name: 'treeId', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        operationId: 'getTree',
        summary: 'Get a tree',
        responses: { '200': { $ref: '#/components/responses/OneNode' } },
      },
      ...(over.dropDelete
        ? {}
        : {
            delete: {
              operationId: 'deleteTree',
              summary: 'Delete a tree',
              responses: { '204': { description: 'gone' } },
            },
          }),
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Tree Service', version: over.version ?? '1.0.0' },
    servers: [
      {
        url: 'https://{region}.trees.example.com/v1',
        variables: { region: { default: 'eu', enum: ['eu', 'us'] } },
      },
      { url: 'https://sandbox.trees.example.com/v1', description: 'Sandbox' },
    ],
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } },
      responses: {
        OneNode: {
          description: 'one',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } },
        },
      },
      schemas: {
        // Circular: a node's children are nodes.
        Node: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string' },
            note: { type: ['string', 'null'] },
            children: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
          },
        },
      },
    },
  };
}

/** OpenAPI 3.0: nullable, oauth2 authorization code and client credentials, http bearer. */
export const notesApi30 = {
  openapi: '3.0.3',
  info: { title: 'Notes', version: '2' },
  servers: [{ url: 'https://notes.example.com/api' }],
  security: [{ oauth: ['notes:write'] }],
  paths: {
    '/notes/{id}': {
      patch: {
        operationId: 'updateNote',
        summary: 'Update a note',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
        requestBody: {
          content: {
            'application/merge-patch+json': {
              schema: {
                type: 'object',
                properties: {
                  text: { type: 'string', nullable: true },
                  score: { type: 'number', minimum: 0, exclusiveMinimum: true },
                },
              },
            },
          },
        },
        responses: { '200': { description: 'ok' } },
      },
    },
  },
  components: {
    securitySchemes: {
      oauth: {
        type: 'oauth2',
        flows: {
          authorizationCode: {
            authorizationUrl: 'https://notes.example.com/oauth/authorize',
            tokenUrl: '/oauth/token',
            scopes: { 'notes:read': 'read', 'notes:write': 'write' },
          },
          clientCredentials: {
            tokenUrl: 'https://notes.example.com/oauth/token',
            scopes: { 'notes:read': 'read' },
          },
        },
      },
      machine: {
        type: 'oauth2',
        flows: {
          clientCredentials: {
            tokenUrl: 'https://notes.example.com/oauth/token',
            scopes: { 'notes:read': 'read' },
          },
        },
      },
      token: { type: 'http', scheme: 'bearer' },
      session: { type: 'apiKey', in: 'cookie', name: 'sid' },
    },
  },
};

/** Swagger 2.0: host/basePath/schemes, a body parameter, formData, oauth2 accessCode. */
export const petsSwagger2 = {
  swagger: '2.0',
  info: { title: 'Pets', version: '1' },
  host: 'pets.example.com',
  basePath: '/v2',
  schemes: ['http', 'https'],
  securityDefinitions: {
    petsAuth: {
      type: 'oauth2',
      flow: 'accessCode',
      authorizationUrl: 'https://pets.example.com/oauth/authorize',
      tokenUrl: 'https://pets.example.com/oauth/token',
      scopes: { 'write:pets': 'write', 'read:pets': 'read' },
    },
    basic: { type: 'basic' },
  },
  security: [{ petsAuth: ['write:pets'] }],
  paths: {
    '/pets': {
      post: {
        operationId: 'addPet',
        summary: 'Add a pet',
        consumes: ['application/json'],
        parameters: [
          { name: 'body', in: 'body', required: true, schema: { $ref: '#/definitions/Pet' } },
        ],
        responses: { '200': { description: 'ok', schema: { $ref: '#/definitions/Pet' } } },
      },
    },
    '/pets/{petId}/photo': {
      post: {
        operationId: 'renamePet',
        consumes: ['application/x-www-form-urlencoded'],
        parameters: [
          { name: 'petId', in: 'path', required: true, type: 'integer', format: 'int64' },
          { name: 'name', in: 'formData', required: true, type: 'string' },
          { name: 'tags', in: 'query', type: 'array', items: { type: 'string' } },
        ],
        responses: { '200': { description: 'ok' } },
      },
    },
  },
  definitions: {
    Pet: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', 'x-nullable': true },
        owner: { $ref: '#/definitions/Person' },
      },
    },
    Person: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        pets: { type: 'array', items: { $ref: '#/definitions/Pet' } },
      },
    },
  },
};
