/**
 * SASL mechanisms the gateway itself can run upstream (for legacy iq:auth and RTMP logins,
 * where the client hands the gateway a plaintext password), best first.
 */
import type { SaltedPasswordCache } from './salted-password-cache.js';
import { ScramClientSession, type ScramHash } from './scram.js';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** One SASL exchange: an initial response, then answers to challenges, then the success data. */
export interface SaslExchange {
  readonly name: string;
  initial(): Promise<string>;
  challenge(data: string): Promise<string>;
  /** Checks additional data with success (SCRAM's server signature); throws if wrong. */
  success(data: string): void;
}

function scram(name: string, hash: ScramHash, credentials: Credentials, cache: SaltedPasswordCache | undefined): SaslExchange {
  const session = new ScramClientSession(hash, credentials.username, credentials.password, undefined, cache);
  let finalSent = false;
  let verified = false;
  return {
    name,
    initial: async () => session.first(),
    challenge: async (data) => {
      if (!finalSent) {
        finalSent = true;
        return session.final(data);
      }
      // RFC 6120 §6.3.10: the server-final-message may come as a challenge; answer empty.
      session.verify(data);
      verified = true;
      return '';
    },
    success: (data) => {
      if (!verified) session.verify(data);
    },
  };
}

/** RFC 4616: authzid empty, authcid, password. */
function plain(credentials: Credentials): SaslExchange {
  return {
    name: 'PLAIN',
    initial: async () => `\0${credentials.username}\0${credentials.password}`,
    challenge: async () => {
      throw new Error('PLAIN: unexpected challenge');
    },
    success: () => undefined,
  };
}

function anonymous(): SaslExchange {
  return {
    name: 'ANONYMOUS',
    initial: async () => '',
    challenge: async () => {
      throw new Error('ANONYMOUS: unexpected challenge');
    },
    success: () => undefined,
  };
}

/**
 * The best mechanism the server offers for these credentials (undefined credentials: anonymous),
 * or undefined when none fits.
 */
export function chooseMechanism(
  offered: readonly string[],
  credentials: Credentials | undefined,
  saltedPasswords?: SaltedPasswordCache,
): SaslExchange | undefined {
  const has = (name: string): boolean => offered.includes(name);
  if (!credentials) return has('ANONYMOUS') ? anonymous() : undefined;
  if (has('SCRAM-SHA-256')) return scram('SCRAM-SHA-256', 'sha256', credentials, saltedPasswords);
  if (has('SCRAM-SHA-1')) return scram('SCRAM-SHA-1', 'sha1', credentials, saltedPasswords);
  if (has('PLAIN')) return plain(credentials);
  return undefined;
}
