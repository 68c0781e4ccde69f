/** The real XMPP servers the integration tests run against. */
import { ejabberd } from './ejabberd.js';
import { prosody } from './prosody.js';
import type { XmppServerKind } from './xmpp-server.js';

export const SERVER_KINDS: readonly XmppServerKind[] = [prosody, ejabberd];
