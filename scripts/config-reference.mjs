#!/usr/bin/env node
// Writes docs/configuration.md from the settings table (run after `npm run build`).
import { writeFileSync } from 'node:fs';
import { configurationReference } from '../dist/src/config/reference.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationReference());
console.log('docs/configuration.md written');
