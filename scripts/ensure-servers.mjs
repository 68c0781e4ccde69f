#!/usr/bin/env node
// Makes sure what the tests need from Debian is installed: the real XMPP servers (Prosody 0.12,
// ejabberd 23.01), Chromium for the browser tests, Haxe to build the demo SWF, librtmp for the RTMP tests and HAProxy for the
// scale-out test, installing them with apt-get when run as root, otherwise saying
// what to run. The logic is the gateway's own (src/embedded/install.ts), built by `npm test`.
// Usage: node scripts/ensure-servers.mjs [prosody] [ejabberd] [chromium] [haxe] [rtmp] [haproxy]   (default: all)
import { CHROMIUM, EJABBERD, ensureInstalled, HAPROXY, HAXE, InstallError, PROSODY, RTMP_CLIENTS } from '../dist/src/embedded/install.js';

const known = { prosody: PROSODY, ejabberd: EJABBERD, chromium: CHROMIUM, haxe: HAXE, rtmp: RTMP_CLIENTS, haproxy: HAPROXY };
const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in known)) {
    console.error(`ensure-servers: unknown server ${JSON.stringify(name)} (known: ${Object.keys(known).join(', ')})`);
    process.exit(2);
  }
}
const servers = (wanted.length > 0 ? wanted : Object.keys(known)).map((name) => known[name]);
try {
  ensureInstalled(servers, (line) => console.log(`ensure-servers: ${line}`));
} catch (error) {
  if (!(error instanceof InstallError)) throw error;
  console.error(`ensure-servers: ${error.message}`);
  process.exit(1);
}
