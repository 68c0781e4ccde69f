// Minimal typing of the parts of @xmpp/client 0.14 (untyped ESM) the test harness uses.
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';

  export interface Element {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (Element | string)[];
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string, xmlns?: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    c(name: string, attrs?: Record<string, string | undefined>): Element;
    t(text: string): Element;
    up(): Element;
    root(): Element;
    append(...nodes: (Element | string)[]): Element;
    toString(): string;
  }

  export type XmlChild = Element | string | number | null | undefined | false | (Element | string)[];
  export function xml(name: string, attrs?: Record<string, string | number | undefined> | null, ...children: XmlChild[]): Element;

  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
  }
  export function jid(address: string): JID;
  export function jid(local: string, domain: string, resource?: string): JID;

  export type Credentials =
    | { username?: string; password?: string }
    | ((
        authenticate: (credentials: { username?: string; password?: string }, mechanism: string, userAgent?: unknown) => Promise<void>,
        mechanisms: string[],
        fast?: unknown,
        entity?: Client,
      ) => Promise<void>);

  export interface ClientOptions {
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
    credentials?: Credentials;
    lang?: string;
    timeout?: number;
  }

  export interface Client extends EventEmitter {
    jid: JID | null;
    status: string;
    options: ClientOptions;
    socket: { secure?: boolean } | null;
    timeout: number;
    reconnect: { start(): void; stop(): void };
    iqCaller: {
      request(el: Element, timeout?: number): Promise<Element>;
      get(el: Element, to?: string, timeout?: number): Promise<Element>;
      set(el: Element, to?: string, timeout?: number): Promise<Element>;
    };
    iqCallee: {
      get(ns: string, name: string, handler: (ctx: unknown) => unknown): void;
      set(ns: string, name: string, handler: (ctx: unknown) => unknown): void;
    };
    start(): Promise<JID>;
    stop(): Promise<Element | undefined>;
    disconnect(): Promise<Element | undefined>;
    send(el: Element): Promise<void>;
    sendMany(els: Element[]): Promise<void>;
    write(s: string): Promise<void>;
    isSecure(): boolean;
  }

  export function client(options: ClientOptions): Client;
}
