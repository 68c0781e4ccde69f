/**
 * Minimal SCRAM-SHA-1 / SCRAM-SHA-256 client (RFC 5802, RFC 7677) for tests, written against
 * the RFCs with node:crypto only: deliberately independent from the gateway's code.
 * No channel binding (gs2 header "n,,"), no SASLprep beyond what ASCII test credentials need.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramHash = 'SCRAM-SHA-1' | 'SCRAM-SHA-256' | 'sha1' | 'sha256';

function digestName(h: ScramHash): 'sha1' | 'sha256' {
  return h === 'SCRAM-SHA-1' || h === 'sha1' ? 'sha1' : 'sha256';
}

/** RFC 5802 saslname: "=" -> "=3D", "," -> "=2C". */
export function saslName(s: string): string {
  return s.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function parseScramAttributes(msg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new Error(`SCRAM: malformed attribute ${JSON.stringify(part)} in ${JSON.stringify(msg)}`);
    out.set(part.slice(0, 1), part.slice(2));
  }
  return out;
}

export class ScramClient {
  readonly mechanism: 'SCRAM-SHA-1' | 'SCRAM-SHA-256';
  private readonly digest: 'sha1' | 'sha256';
  private readonly clientNonce: string;
  private readonly gs2Header = 'n,,';
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | undefined;
  /** Iteration count and salt the server announced (for assertions). */
  iterations = 0;
  salt: Buffer | undefined;

  /** `nonce` is for RFC test vectors only; by default 18 random bytes, base64. */
  constructor(hash: ScramHash, readonly user: string, readonly pass: string, nonce?: string) {
    this.digest = digestName(hash);
    this.mechanism = this.digest === 'sha1' ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256';
    this.clientNonce = nonce ?? randomBytes(18).toString('base64');
    if (this.clientNonce.includes(',')) throw new Error('SCRAM: nonce must not contain ","');
  }

  /** The full client-first-message: "n,,n=user,r=nonce" (not base64-encoded). */
  clientFirst(): string {
    this.clientFirstBare = `n=${saslName(this.user)},r=${this.clientNonce}`;
    return this.gs2Header + this.clientFirstBare;
  }

  /** The client-final-message for the decoded server-first-message (not base64-encoded). */
  clientFinal(serverFirst: string): string {
    if (this.clientFirstBare === '') throw new Error('SCRAM: clientFirst() not called');
    const attrs = parseScramAttributes(serverFirst);
    if (attrs.has('m')) throw new Error('SCRAM: unsupported mandatory extension');
    const nonce = attrs.get('r');
    const saltB64 = attrs.get('s');
    const iter = Number(attrs.get('i'));
    if (nonce === undefined || saltB64 === undefined || !Number.isInteger(iter) || iter < 1) {
      throw new Error(`SCRAM: bad server-first-message ${JSON.stringify(serverFirst)}`);
    }
    if (!nonce.startsWith(this.clientNonce) || nonce.length <= this.clientNonce.length) {
      throw new Error(`SCRAM: server nonce does not extend the client nonce: ${JSON.stringify(serverFirst)}`);
    }
    const salt = Buffer.from(saltB64, 'base64');
    this.iterations = iter;
    this.salt = salt;
    const len = this.digest === 'sha1' ? 20 : 32;
    const saltedPassword = pbkdf2Sync(Buffer.from(this.pass, 'utf8'), salt, iter, len, this.digest);
    const hmac = (key: Buffer, data: string): Buffer => createHmac(this.digest, key).update(data, 'utf8').digest();
    const clientKey = hmac(saltedPassword, 'Client Key');
    const storedKey = createHash(this.digest).update(clientKey).digest();
    const withoutProof = `c=${Buffer.from(this.gs2Header).toString('base64')},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(len);
    for (let i = 0; i < len; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    const serverKey = hmac(saltedPassword, 'Server Key');
    this.expectedServerSignature = hmac(serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the decoded server-final-message ("v=..."); throws on "e=..." or a wrong signature. */
  verifyServerFinal(serverFinal: string): void {
    if (!this.expectedServerSignature) throw new Error('SCRAM: clientFinal() not called');
    const attrs = parseScramAttributes(serverFinal);
    const e = attrs.get('e');
    if (e !== undefined) throw new Error(`SCRAM: server error ${e}`);
    const v = attrs.get('v');
    if (v === undefined) throw new Error(`SCRAM: no verifier in ${JSON.stringify(serverFinal)}`);
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.expectedServerSignature.length || !timingSafeEqual(got, this.expectedServerSignature)) {
      throw new Error(`SCRAM: wrong server signature ${JSON.stringify(serverFinal)}`);
    }
  }
}

/** SASL PLAIN message (RFC 4616): authzid NUL authcid NUL passwd (not base64-encoded). */
export function plainMessage(authzid: string, authcid: string, pass: string): string {
  return `${authzid}\0${authcid}\0${pass}`;
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

export function unb64(s: string): string {
  return Buffer.from(s.trim(), 'base64').toString('utf8');
}
