/** The tests use the same port helpers as the embedded servers. */
export { canConnect, freePort, freePorts } from '../../src/embedded/ports.js';
