// Writes docs/provision.schema.json from the one definition of the --json contract (src/ui/json.ts).
// Run after a build: npm run schema. test/unit/cliContract.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { jsonSchemaDocument } from '../dist/ui/json.js';

writeFileSync(new URL('../docs/provision.schema.json', import.meta.url), JSON.stringify(jsonSchemaDocument(), null, 2) + '\n');
