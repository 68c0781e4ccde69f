#!/usr/bin/env node
// The whole test suite: make sure the real XMPP servers the tests need are installed, then run
// every compiled test file with Node's test runner. `npm test` builds first and calls this.
// The whole suite (no file arguments) also runs the redaction check: the gateways' log lines and
// the secrets the tests used are collected in a fresh FXG_LOG_CAPTURE_DIR (test/support/secrets.ts)
// and scripts/check-redaction.mjs looks for every secret in every line. The directory is removed
// when all passed and kept (its path printed) otherwise. A FXG_LOG_CAPTURE_DIR already set is used
// as is and never removed. FXG_LOG_CAPTURE_LEVEL=debug|trace runs every gateway that does not set
// --log-level itself at that level (the tests that reload the log level then fail, as expected).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (command, args, env = process.env) => spawnSync(command, args, { cwd: root, stdio: 'inherit', env }).status ?? 1;

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
const wholeSuite = extra.length === 0;
const targets = wholeSuite ? [...testFiles('dist/test/unit'), ...testFiles('dist/test/integration'), ...testFiles('dist/test/browser')] : extra;

const givenDir = process.env.FXG_LOG_CAPTURE_DIR || undefined;
const captureDir = wholeSuite ? (givenDir ?? mkdtempSync(join(tmpdir(), 'fxg-log-capture-'))) : givenDir;
const env = captureDir !== undefined ? { ...process.env, FXG_LOG_CAPTURE_DIR: captureDir } : process.env;

const tests = run(process.execPath, ['--test', '--test-concurrency=4', ...targets], env);
if (!wholeSuite) process.exit(tests);

const redaction = run(process.execPath, [join(root, 'scripts', 'check-redaction.mjs'), captureDir]);
if (tests === 0 && redaction === 0) {
  if (givenDir === undefined) rmSync(captureDir, { recursive: true, force: true });
} else {
  console.error(`test: ${tests !== 0 ? 'tests failed' : 'tests passed'}, redaction check ${redaction !== 0 ? 'failed' : 'passed'}; logs and secrets kept in ${captureDir}`);
}
process.exit(tests !== 0 ? tests : redaction);
