/**
 * The user name inside a SASL initial response, for the login log and the status page: PLAIN
 * (RFC 4616: authzid NUL authcid NUL passwd) and SCRAM (RFC 5802 §5.1: gs2-header, then
 * `n=user`). Only the name is read: the password part is never decoded into a string.
 */

/** Initial responses longer than this are not looked at (a name is short). */
const MAX_RESPONSE_BASE64 = 2048;

export function saslUserName(mechanism: string, initialResponse: string): string | undefined {
  const payload = initialResponse.trim();
  if (payload === '' || payload === '=' || payload.length > MAX_RESPONSE_BASE64) return undefined;
  const bytes = Buffer.from(payload, 'base64');
  if (mechanism === 'PLAIN') {
    const first = bytes.indexOf(0);
    const second = first < 0 ? -1 : bytes.indexOf(0, first + 1);
    return second < 0 ? undefined : printable(bytes.subarray(first + 1, second).toString('utf8'));
  }
  if (mechanism.startsWith('SCRAM-')) {
    // gs2-header "n,," / "y,," / "p=cb,," then client-first-message-bare "n=user,r=nonce".
    const text = bytes.toString('utf8');
    const match = /^[^,]*,[^,]*,n=([^,]*),/.exec(text);
    return match ? printable((match[1] as string).replace(/=2C/g, ',').replace(/=3D/g, '=')) : undefined;
  }
  return undefined;
}

/** A name as logs and HTML show it: no control characters, at most 64 characters. */
function printable(name: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 64);
  return clean === '' ? undefined : clean;
}
