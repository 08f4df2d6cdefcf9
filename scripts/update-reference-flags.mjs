// Rewrite the settings table in docs/reference.md from src/config/schema.ts (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { withSettingsTable } from '../dist/config/docs.js';

const path = new URL('../docs/reference.md', import.meta.url);
writeFileSync(path, withSettingsTable(readFileSync(path, 'utf8')));
console.log('docs/reference.md settings tables updated');
