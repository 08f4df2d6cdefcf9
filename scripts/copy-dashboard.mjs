#!/usr/bin/env node
// Part of `npm run build`: copy the dashboard's asset files (HTML, CSS,
// browser JavaScript) from src/admin/dashboard/ to dist/admin/dashboard/,
// next to the compiled src/admin/dashboard.ts that reads them at start.
// The target directory is replaced, so no stale file survives a rename.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/admin/dashboard/', import.meta.url));
const to = fileURLToPath(new URL('../dist/admin/dashboard/', import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
