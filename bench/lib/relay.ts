/**
 * The byte relay: the physical limit for a proxy. A plain TCP relay in Node that parses nothing:
 * every accepted connection is connected to the target and the two sockets are piped together
 * (Nagle off both ways, as the gateway). Run as its own process so its CPU time can be read from
 * /proc like the gateway's:
 *
 *   node dist/bench/lib/relay.js LISTEN_PORT TARGET_HOST TARGET_PORT [--starttls DOMAIN CA_FILE]
 *
 * With --starttls it is the limit for a proxy that must see the stanzas while the server wants
 * TLS, as the gateway does: for each client it opens a stream to the server, runs STARTTLS
 * (RFC 6120 §5) with a fixed exchange matched by substring (still no XML parsing), and then pipes
 * the plaintext client into the TLS socket and back; the client's own stream header becomes the
 * stream restart after TLS. The client speaks plaintext to it, as it does to the gateway.
 *
 * Prints "relay listening on 127.0.0.1:PORT" once ready; stops on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [listenPort, targetHost, targetPort, mode, domain, caFile] = process.argv.slice(2);
if (!listenPort || !targetHost || !targetPort || (mode !== undefined && (mode !== '--starttls' || !domain || !caFile))) {
  console.error('usage: relay.js LISTEN_PORT TARGET_HOST TARGET_PORT [--starttls DOMAIN CA_FILE]');
  process.exit(2);
}
const ca = caFile ? readFileSync(caFile) : undefined;

/** Reads from the socket until `marker` has arrived (the server's answers are small). */
function until(socket: net.Socket, marker: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (b: Buffer): void => {
      seen += b.toString('latin1');
      if (seen.includes('<failure') || seen.includes('</stream:stream>')) fail(new Error(`refused: ${seen}`));
      else if (seen.includes(marker)) {
        socket.off('data', onData);
        socket.off('error', fail);
        resolve();
      }
    };
    const fail = (e: Error): void => {
      socket.off('data', onData);
      reject(e);
    };
    socket.on('data', onData);
    socket.once('error', fail);
  });
}

async function starttls(): Promise<tls.TLSSocket> {
  const plain = net.connect({ host: targetHost, port: Number(targetPort) });
  plain.setNoDelay(true);
  await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject));
  const features = until(plain, '</stream:features>');
  plain.write(`<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`);
  await features;
  const proceed = until(plain, '<proceed');
  plain.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await proceed;
  const secure = tls.connect({ socket: plain, servername: domain, ca, minVersion: 'TLSv1.2' });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  return secure;
}

function relay(client: net.Socket, upstream: net.Socket): void {
  client.pipe(upstream);
  upstream.pipe(client);
  const done = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', done);
  upstream.on('error', done);
  client.on('close', done);
  upstream.on('close', done);
}

const server = net.createServer((client) => {
  client.setNoDelay(true);
  if (!mode) {
    const upstream = net.connect({ host: targetHost, port: Number(targetPort) });
    upstream.setNoDelay(true);
    relay(client, upstream);
    return;
  }
  // The client's first bytes wait in its socket (paused) until TLS is up.
  client.pause();
  client.on('error', () => client.destroy());
  starttls().then(
    (secure) => {
      relay(client, secure);
      client.resume();
    },
    () => client.destroy(),
  );
});
server.listen(Number(listenPort), '127.0.0.1', () => {
  console.log(`relay listening on 127.0.0.1:${(server.address() as net.AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
