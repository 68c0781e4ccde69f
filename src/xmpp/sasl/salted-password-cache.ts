/**
 * Remembers SCRAM SaltedPassword values, as RFC 5802 §5.1 allows a client to ("the client can
 * cache … for later reauthentication to the same service, as it is likely that the server is
 * going to advertise the same salt value"). Where the gateway logs in for the client (RTMP,
 * legacy iq:auth), PBKDF2 — thousands of HMAC rounds — is most of a login's CPU; a returning
 * user skips it.
 *
 * SaltedPassword = Hi(password, salt, i) depends on nothing else, so the key is those inputs:
 * an HMAC under a key made at start-up, so the map holds neither passwords nor anything to test
 * a guess against offline. Only values the server accepted are stored (`remember` after the
 * server signature checked), so wrong passwords never fill it. Bounded in entries (least
 * recently used out first) and in age.
 */
import { createHmac, randomBytes } from 'node:crypto';

export interface SaltedPasswordCacheOptions {
  /** Most entries kept (0: nothing is kept). */
  readonly maxEntries: number;
  /** An entry older than this is derived again. */
  readonly maxAgeMs: number;
  /** For tests. */
  readonly now?: () => number;
}

interface Entry {
  readonly salted: Buffer;
  readonly storedAt: number;
}

export class SaltedPasswordCache {
  private readonly entries = new Map<string, Entry>();
  private readonly secret = randomBytes(32);
  private readonly now: () => number;
  /** Lookups that found a value / did not (metrics: scram_cache_lookups_total). */
  hits = 0;
  misses = 0;

  constructor(private readonly options: SaltedPasswordCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The key for these PBKDF2 inputs (never the password itself). */
  keyFor(hash: string, password: string, salt: string, iterations: number): string {
    return createHmac('sha256', this.secret).update(`${hash}\0${iterations}\0${salt}\0`).update(password, 'utf8').digest('base64');
  }

  get(key: string): Buffer | undefined {
    const entry = this.entries.get(key);
    if (entry) this.entries.delete(key);
    if (!entry || this.now() - entry.storedAt > this.options.maxAgeMs) {
      this.misses++;
      return undefined;
    }
    this.entries.set(key, entry); // most recently used last
    this.hits++;
    return entry.salted;
  }

  /** Stores a value the server accepted. */
  remember(key: string, salted: Buffer): void {
    if (this.options.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { salted: Buffer.from(salted), storedAt: this.now() });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
