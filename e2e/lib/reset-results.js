// `npm test` runs this first: a fresh target/e2e/results.jsonl for the run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts } from './harness.js';

writeFileSync(join(artifacts, 'results.jsonl'), '');
