import { execFile } from 'node:child_process';
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import * as path from 'node:path';

export interface TestPki {
  /** PEM of the CA that signed `cert`: give it to TLS clients as `ca`. */
  caCert: string;
  caKey: string;
  /** Server certificate (PEM) with a SAN DNS entry for every requested domain. */
  cert: string;
  /** Unencrypted private key (PEM) of `cert`. */
  key: string;
  /** A second, unrelated self-signed CA: trusting only this must make verification fail. */
  wrongCaCert: string;
  wrongCaKey: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')} failed: ${err.message}\n${stderr}${stdout}`));
      else resolve();
    });
  });
}

async function makeCa(dir: string, base: string, cn: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${base}.crt`);
  const key = path.join(dir, `${base}.key`);
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '3650', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], dir);
  return { cert, key };
}

/**
 * Creates in `dir` (made if missing) a self-signed test CA, a server certificate + key for
 * `domains` (first one is the CN; all of them are SAN DNS entries) signed by that CA, and a
 * second unrelated CA for negative tests. Returns absolute paths. EC P-256 keys (fast).
 */
export async function makeTestPki(dir: string, domains: string[]): Promise<TestPki> {
  if (domains.length === 0) throw new Error('makeTestPki: at least one domain');
  for (const d of domains) {
    if (!/^[A-Za-z0-9.-]+$/.test(d)) throw new Error(`makeTestPki: bad domain ${JSON.stringify(d)}`);
  }
  const abs = path.resolve(dir);
  await mkdir(abs, { recursive: true });
  const [ca, wrong] = await Promise.all([
    makeCa(abs, 'ca', 'flash-xmpp-gateway test CA'),
    makeCa(abs, 'wrong-ca', 'unrelated test CA'),
  ]);
  const key = path.join(abs, 'server.key');
  const csr = path.join(abs, 'server.csr');
  const cert = path.join(abs, 'server.crt');
  const ext = path.join(abs, 'server.ext');
  await writeFile(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${domains.map((d) => `DNS:${d}`).join(',')}`,
    '',
  ].join('\n'));
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', csr, '-subj', `/CN=${domains[0]}`,
  ], abs);
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-out', cert, '-days', '825', '-sha256', '-extfile', ext,
  ], abs);
  // Test material only: readable by whatever user a server may run as.
  await Promise.all([key, cert, ca.cert, wrong.cert].map((f) => chmod(f, 0o644)));
  return { caCert: ca.cert, caKey: ca.key, cert, key, wrongCaCert: wrong.cert, wrongCaKey: wrong.key };
}
