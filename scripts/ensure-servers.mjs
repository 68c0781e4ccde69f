#!/usr/bin/env node
// Makes sure the real XMPP servers the integration tests start are installed (Prosody 0.12 and
// ejabberd 23.01 from Debian), installing them with apt-get when run as root, otherwise saying
// what to run. The logic is the gateway's own (src/embedded/install.ts), built by `npm test`.
// Usage: node scripts/ensure-servers.mjs [prosody] [ejabberd]   (default: both)
import { EJABBERD, ensureInstalled, InstallError, PROSODY } from '../dist/src/embedded/install.js';

const known = { prosody: PROSODY, ejabberd: EJABBERD };
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
