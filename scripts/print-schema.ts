// Writes the GraphQL schema (SDL) to docs/schema.graphql: `npm run schema:print`.
import { writeFile } from 'node:fs/promises';
import { printApiSchema } from '../src/api/graphql/schema.ts';

await writeFile(new URL('../docs/schema.graphql', import.meta.url), printApiSchema());
process.stdout.write('docs/schema.graphql written\n');
