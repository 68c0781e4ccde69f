/**
 * The byte relay: the physical limit for a proxy. A plain TCP relay in Node that parses nothing:
 * every accepted connection is connected to the target and the two sockets are piped together
 * (Nagle off both ways, as the gateway). Run as its own process so its CPU time can be read from
 * /proc like the gateway's:
 *
 *   node dist/bench/lib/relay.js LISTEN_PORT TARGET_HOST TARGET_PORT
 *
 * Prints "relay listening on 127.0.0.1:PORT" once ready; stops on SIGTERM.
 */
import net from 'node:net';

const [listenPort, targetHost, targetPort] = process.argv.slice(2);
if (!listenPort || !targetHost || !targetPort) {
  console.error('usage: relay.js LISTEN_PORT TARGET_HOST TARGET_PORT');
  process.exit(2);
}

const server = net.createServer((client) => {
  const upstream = net.connect({ host: targetHost, port: Number(targetPort) });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
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
});
server.listen(Number(listenPort), '127.0.0.1', () => {
  console.log(`relay listening on 127.0.0.1:${(server.address() as net.AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
