// Rewrite the settings table in README.md from src/config/schema.ts (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { withSettingsTable } from '../dist/config/docs.js';

const path = new URL('../README.md', import.meta.url);
writeFileSync(path, withSettingsTable(readFileSync(path, 'utf8')));
console.log('README.md settings table updated');
