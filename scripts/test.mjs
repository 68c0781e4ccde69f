#!/usr/bin/env node
// The whole test suite: make sure the real XMPP servers the tests need are installed, then run
// every compiled test file with Node's test runner. `npm test` builds first and calls this.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (command, args) => spawnSync(command, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

const ensured = run(process.execPath, [join(root, 'scripts', 'ensure-servers.mjs')]);
if (ensured !== 0) process.exit(ensured);

// Integration tests mostly wait on sockets and servers: run several files at once even on 2 cores.
// Only *.test.js files: a directory argument would make Node 20 run every file under test/.
const testFiles = (dir) =>
  readdirSync(join(root, dir), { recursive: true })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => relative(root, join(root, dir, f)))
    .sort();
const extra = process.argv.slice(2);
const targets =
  extra.length > 0 ? extra : [...testFiles('dist/test/unit'), ...testFiles('dist/test/integration'), ...testFiles('dist/test/browser')];
process.exit(run(process.execPath, ['--test', '--test-concurrency=4', ...targets]));
