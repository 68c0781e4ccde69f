#!/usr/bin/env node
// Builds the demo chat SWF (demo/public/fxg-demo.swf) from its Haxe source (demo/swf/src) with
// Haxe 4.2's flash target. The built SWF is committed, so running the demo needs no Haxe.
// Usage: node scripts/build-demo-swf.mjs            build demo/public/fxg-demo.swf
//        node scripts/build-demo-swf.mjs --check    build to a temporary file; exit 1 if it
//                                                    differs from the committed SWF
// Haxe's output is byte-for-byte reproducible for a given output *file name*: the only varying
// part is the name of the boot class ("boot_" + 4 hex digits), which Haxe derives from the output
// file's base name. So --check builds into a temporary directory under the same base name.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const hxml = join(root, 'demo', 'swf', 'build.hxml');
const target = join(root, 'demo', 'public', 'fxg-demo.swf');

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--check');
if (unknown.length > 0) {
  console.error(`build-demo-swf: unknown argument ${JSON.stringify(unknown[0])} (usage: node scripts/build-demo-swf.mjs [--check])`);
  process.exit(2);
}
const check = args.includes('--check');

const version = spawnSync('haxe', ['-version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  console.error(
    'build-demo-swf: haxe not found. The demo SWF is built with Haxe 4.2 (flash target): ' +
      'install it with `apt-get install haxe` (Debian/Ubuntu) or `node scripts/ensure-servers.mjs haxe`, ' +
      'or from https://haxe.org/download/. (The committed demo/public/fxg-demo.swf works without it.)',
  );
  process.exit(1);
}
const haxeVersion = `${version.stdout}${version.stderr}`.trim();

function build(out) {
  const result = spawnSync('haxe', [relative(root, hxml), '--swf', out], { cwd: root, encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (result.error || result.status !== 0) {
    console.error(`build-demo-swf: haxe ${haxeVersion} failed:\n${output || result.error}`);
    process.exit(1);
  }
  if (output !== '') console.log(output); // warnings
}

if (check) {
  if (!existsSync(target)) {
    console.error(`build-demo-swf: ${relative(root, target)} does not exist; run node scripts/build-demo-swf.mjs`);
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'fxg-demo-swf-'));
  try {
    const out = join(dir, basename(target)); // same base name: see the note at the top
    build(out);
    const fresh = readFileSync(out);
    const committed = readFileSync(target);
    if (!fresh.equals(committed)) {
      console.error(
        `build-demo-swf: ${relative(root, target)} (${committed.length} bytes) is not what demo/swf/src builds to ` +
          `with haxe ${haxeVersion} (${fresh.length} bytes); run node scripts/build-demo-swf.mjs and commit the result`,
      );
      process.exit(1);
    }
    console.log(`build-demo-swf: ${relative(root, target)} is up to date (${committed.length} bytes, haxe ${haxeVersion})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  build(target);
  console.log(`build-demo-swf: wrote ${relative(root, target)} (${statSync(target).size} bytes, haxe ${haxeVersion})`);
}
