/**
 * Legacy authentication (XEP-0078, `jabber:iq:auth`) as Flash clients of 2006–2009 use it:
 * the gateway answers the fields query itself and turns the plaintext set into a SASL login it
 * runs upstream (src/xmpp/login.ts). Digest authentication is not offered: the gateway needs
 * the password to run SASL.
 */
import { attr, child, NS, text, type XmlElement } from '../codec/xml/element.js';
import { escapeAttr, escapeText } from '../codec/xml/serializer.js';

export type LegacyAuthRequest =
  | { readonly kind: 'fields'; readonly id: string; readonly username: string }
  | { readonly kind: 'login'; readonly id: string; readonly username: string; readonly password: string; readonly resource: string }
  | { readonly kind: 'anonymous'; readonly id: string; readonly resource: string }
  | { readonly kind: 'invalid'; readonly id: string; readonly reason: string };

/** Legacy fields are short; anything longer is not a login. */
const MAX_FIELD_CHARS = 1023;

/** Recognises an iq:auth get or set; undefined for any other element. */
export function parseLegacyAuth(element: XmlElement): LegacyAuthRequest | undefined {
  if (element.local !== 'iq' || element.ns !== NS.client) return undefined;
  const query = child(element, 'query', NS.iqAuth);
  if (!query) return undefined;
  const type = attr(element, 'type');
  const id = attr(element, 'id') ?? '';
  const field = (name: string): string | undefined => {
    const f = child(query, name, NS.iqAuth);
    return f ? text(f).trim() : undefined;
  };
  const username = field('username') ?? '';
  if (type === 'get') return { kind: 'fields', id, username };
  if (type !== 'set') return { kind: 'invalid', id, reason: 'iq:auth must be a get or a set' };
  const password = field('password');
  const resource = field('resource') ?? '';
  for (const value of [username, password ?? '', resource]) {
    if (value.length > MAX_FIELD_CHARS) return { kind: 'invalid', id, reason: 'iq:auth field too long' };
  }
  if (username === '' && (password ?? '') === '') return { kind: 'anonymous', id, resource };
  if (field('digest') !== undefined && password === undefined) {
    return { kind: 'invalid', id, reason: 'digest authentication is not supported through this gateway; send the password' };
  }
  if (username === '' || password === undefined || password === '') return { kind: 'invalid', id, reason: 'username and password are required' };
  if (resource === '') return { kind: 'invalid', id, reason: 'a resource is required (XEP-0078 §3)' };
  return { kind: 'login', id, username, password, resource };
}

/** XEP-0078 §3 example 2: the fields the gateway accepts (no digest). */
export function legacyAuthFields(id: string, username: string): string {
  return (
    `<iq type="result" id="${escapeAttr(id)}"><query xmlns="${NS.iqAuth}">` +
    `<username>${escapeText(username)}</username><password/><resource/></query></iq>`
  );
}

export function legacyAuthSuccess(id: string): string {
  return `<iq type="result" id="${escapeAttr(id)}"/>`;
}

/** XEP-0078 §3 with the legacy codes old clients read (XEP-0086). */
const LEGACY_ERRORS: Record<string, { code: number; type: string; condition: string }> = {
  'not-authorized': { code: 401, type: 'auth', condition: 'not-authorized' },
  conflict: { code: 409, type: 'cancel', condition: 'conflict' },
  'not-acceptable': { code: 406, type: 'modify', condition: 'not-acceptable' },
  'service-unavailable': { code: 503, type: 'cancel', condition: 'service-unavailable' },
};

/**
 * The iq error for a failed legacy login. SASL conditions that mean "bad credentials" become
 * not-authorized (401), as XEP-0078 §3 says; a bind conflict stays a conflict (409).
 */
export function legacyAuthError(id: string, condition: string, text?: string): string {
  const mapped =
    condition === 'conflict' || condition === 'not-acceptable' || condition === 'service-unavailable'
      ? condition
      : 'not-authorized';
  const e = LEGACY_ERRORS[mapped] as { code: number; type: string; condition: string };
  const description = text ? `<text xmlns="${NS.stanzas}">${escapeText(text)}</text>` : '';
  return (
    `<iq type="error" id="${escapeAttr(id)}"><query xmlns="${NS.iqAuth}"/>` +
    `<error code="${e.code}" type="${e.type}"><${e.condition} xmlns="${NS.stanzas}"/>${description}</error></iq>`
  );
}
