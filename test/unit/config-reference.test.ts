import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configurationReference } from '../../src/config/reference.js';
import { SETTINGS, flagName } from '../../src/config/settings.js';

test('docs/configuration.md is the reference generated from the settings table (npm run config-reference)', () => {
  const committed = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(committed, configurationReference());
  for (const spec of SETTINGS) assert.ok(committed.includes(`\`${flagName(spec.key)}\``), flagName(spec.key));
});

test('examples/gateway.yaml, the commented sample, is a valid configuration', async () => {
  const { loadCommandLine } = await import('../../src/config/load.js');
  const sample = new URL('../../../examples/gateway.yaml', import.meta.url).pathname;
  const { checkOnly, settings } = loadCommandLine(['--check-config', sample]);
  assert.equal(checkOnly, sample);
  assert.deepEqual(settings.domain, ['example.org']);
});
