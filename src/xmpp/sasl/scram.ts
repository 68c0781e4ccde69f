/**
 * The client side of SCRAM (RFC 5802, SCRAM-SHA-256 per RFC 7677), without channel binding
 * (`n,,`): the gateway's TLS hop is not the client's. PBKDF2 runs on libuv's thread pool, so a
 * login never blocks other connections.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { SaltedPasswordCache } from './salted-password-cache.js';

const pbkdf2Async = promisify(pbkdf2);

export type ScramHash = 'sha1' | 'sha256';

/** Refuse absurd iteration counts from a hostile server (RFC 5802 §5.1 gives no upper bound). */
const MAX_ITERATIONS = 1_000_000;

/** RFC 5802 §5.1: `=` and `,` in a username are escaped. */
function saslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function parseAttributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0] as string, part.slice(2));
  }
  return out;
}

export class ScramClientSession {
  private readonly clientNonce: string;
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | undefined;
  /** Remembered once the server has proved it accepted it (verify). */
  private derived: { key: string; salted: Buffer; fromCache: boolean } | undefined;

  constructor(
    private readonly hash: ScramHash,
    private readonly username: string,
    private readonly password: string,
    /** Only the RFC test vectors set this; a login uses a fresh random nonce. */
    nonce: string = randomBytes(18).toString('base64'),
    /** RFC 5802 §5.1: SaltedPassword may be cached for re-authentication. */
    private readonly cache?: SaltedPasswordCache,
  ) {
    this.clientNonce = nonce;
  }

  /** client-first-message (gs2 header + bare). */
  first(): string {
    this.clientFirstBare = `n=${saslName(this.username.normalize('NFKC'))},r=${this.clientNonce}`;
    return `n,,${this.clientFirstBare}`;
  }

  /** client-final-message for the server-first-message; throws on a malformed or hostile one. */
  async final(serverFirst: string): Promise<string> {
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (attrs.has('m')) throw new Error('SCRAM: the server requires an unknown extension');
    if (!nonce || !nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new Error('SCRAM: the server nonce does not extend ours');
    }
    if (!salt || !Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
      throw new Error('SCRAM: bad salt or iteration count from the server');
    }
    const keyLength = this.hash === 'sha1' ? 20 : 32;
    // SASLprep (RFC 4013) is approximated by NFKC normalisation, which covers what users type.
    const password = this.password.normalize('NFKC');
    const key = this.cache?.keyFor(this.hash, password, salt, iterations);
    const cached = key === undefined ? undefined : this.cache?.get(key);
    const salted = cached ?? (await pbkdf2Async(password, Buffer.from(salt, 'base64'), iterations, keyLength, this.hash));
    if (key !== undefined) this.derived = { key, salted, fromCache: cached !== undefined };
    const clientKey = createHmac(this.hash, salted).update('Client Key').digest();
    const storedKey = createHash(this.hash).update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = createHmac(this.hash, storedKey).update(authMessage).digest();
    const proof = Buffer.alloc(keyLength);
    for (let i = 0; i < keyLength; i++) proof[i] = (clientKey[i] as number) ^ (clientSignature[i] as number);
    const serverKey = createHmac(this.hash, salted).update('Server Key').digest();
    this.expectedServerSignature = createHmac(this.hash, serverKey).update(authMessage).digest();
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server-final-message: the server proves it knows the password too. */
  verify(serverFinal: string): void {
    const attrs = parseAttributes(serverFinal);
    const error = attrs.get('e');
    if (error !== undefined) throw new Error(`SCRAM: the server reports ${error}`);
    const signature = Buffer.from(attrs.get('v') ?? '', 'base64');
    const expected = this.expectedServerSignature;
    if (!expected || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new Error('SCRAM: the server signature is wrong');
    }
    if (this.derived && !this.derived.fromCache) this.cache?.remember(this.derived.key, this.derived.salted);
  }

  /** Whether PBKDF2 was skipped for a remembered SaltedPassword (for tests). */
  get usedCache(): boolean {
    return this.derived?.fromCache === true;
  }
}
