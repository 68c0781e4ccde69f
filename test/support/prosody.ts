/**
 * Prosody for the tests: the gateway's own embedded launcher (src/embedded/prosody.ts) plus a
 * generated PKI when the test wants STARTTLS. `restart()` comes from the launcher: SIGKILL, then
 * the same config, ports and data directory again (the PKI stays until stop()).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProsody as launchProsody, type ProsodyInstance as EmbeddedInstance, type ProsodyOptions as EmbeddedOptions } from '../../src/embedded/prosody.js';
import { makeTestPki, type TestPki } from './certs.js';
import { recordComponentSecrets, recordSecret, recordUserPasswords } from './secrets.js';
import type { XmppServerInstance, XmppServerKind, XmppServerOptions } from './xmpp-server.js';

export { readProsodyLog } from '../../src/embedded/prosody.js';

export interface ProsodyOptions extends Omit<EmbeddedOptions, 'certificate'>, XmppServerOptions {}

export type ProsodyInstance = EmbeddedInstance & XmppServerInstance & { readonly kind: 'prosody' };

export async function startProsody(opts: ProsodyOptions): Promise<ProsodyInstance> {
  const domain = opts.domain ?? 'localhost';
  // For the whole-run redaction check: no gateway may ever log these.
  recordUserPasswords(opts.users, domain);
  recordComponentSecrets(opts.components);
  let pkiDir: string | undefined;
  let pki: TestPki | undefined;
  if (opts.tls) {
    pkiDir = await mkdtemp(path.join(os.tmpdir(), 'fxg-pki-'));
    const names = opts.certificateNames ?? [domain, `conference.${domain}`, ...(opts.components ?? []).map((c) => c.domain)];
    pki = await makeTestPki(pkiDir, names);
  }
  const cleanPki = async (): Promise<void> => {
    if (pkiDir && process.env.PROSODY_KEEP !== '1') await rm(pkiDir, { recursive: true, force: true }).catch(() => {});
  };
  let instance: EmbeddedInstance;
  try {
    instance = await launchProsody({ ...opts, ...(pki ? { certificate: { cert: pki.cert, key: pki.key } } : {}) });
  } catch (error) {
    await cleanPki();
    throw error;
  }
  const stop = instance.stop;
  const register = instance.register;
  return Object.assign(instance, {
    kind: 'prosody' as const,
    host: '127.0.0.1' as const,
    ...(pki ? { caCert: pki.caCert, pki } : {}),
    register: (user: string, pass: string): Promise<void> => {
      recordSecret(pass, { kind: 'password', user, domain });
      return register(user, pass);
    },
    stop: async () => {
      await stop();
      await cleanPki();
    },
  });
}

export const prosody: XmppServerKind = { name: 'prosody', start: startProsody };
