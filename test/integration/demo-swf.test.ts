/**
 * The demo SWF is committed (the quick start needs no Haxe); these checks keep it honest: it is
 * exactly what the committed Haxe source builds to, and the SWF's own stream splitter passes its
 * tests (run in Haxe's interpreter).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/gateway.js';

const run = promisify(execFile);

test('demo/public/fxg-demo.swf is the build of demo/swf/src (haxe, byte for byte)', async () => {
  const { stdout } = await run(process.execPath, ['scripts/build-demo-swf.mjs', '--check'], { cwd: REPO_ROOT });
  assert.match(stdout, /is up to date/);
});

test('the SWF’s stream splitter: elements cut at every position, UTF-8 cut mid-character', async () => {
  const { stdout } = await run('haxe', ['--class-path', 'demo/swf/src', '--main', 'SplitterTest', '--interp'], { cwd: REPO_ROOT });
  assert.match(stdout, /all passed/);
});
