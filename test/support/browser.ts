/**
 * Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) for the browser
 * tests: the demo page (demo/public/) runs the demo SWF in Ruffle, and the SWF reports what it
 * sees through `fxgDemoEvent`, which the page records in `window.fxgEvents[instance]`.
 *
 * - launchBrowser(): one browser per test file (a fresh temporary profile each launch).
 * - openPage(browser, url, name): a page in its own context, with its console, page errors,
 *   failed requests and WebSocket frames recorded for failure messages.
 * - waitForEvent / callSwf / screenshot: the test's view of the demo page's API
 *   (see the header of demo/public/demo.js).
 *
 * Every wait is bounded; every failure message carries the page's event log, its console and
 * the tail of its WebSocket traffic.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './gateway.js';

export const CHROMIUM_PATH = process.env.FXG_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-artifacts', 'screenshots');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export type EventData = Record<string, unknown>;
export interface SwfEvent {
  type: string;
  data: EventData;
  /** ms since the page started. */
  t: number;
}

export interface WsFrame {
  dir: 'sent' | 'received' | 'open' | 'close' | 'error';
  /** Which of the page's WebSockets (0, 1, … in order of opening). */
  socket: number;
  url: string;
  text: string;
  /** Whether the frame held a NUL byte (XMLSocket framing). */
  nul: boolean;
  binary: boolean;
  t: number;
}

interface PageRecord {
  name: string;
  context: BrowserContext;
  started: number;
  console: string[];
  frames: WsFrame[];
  requests: string[];
  sockets: number;
}

const records = new WeakMap<Page, PageRecord>();

/** Launches headless Chromium. Throws a message saying how to install it when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: run \`node scripts/ensure-servers.mjs chromium\` as root (apt-get install -y chromium), or set FXG_CHROMIUM`);
  }
  return withTimeout(chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 }), 35_000, 'launching Chromium');
}

/** Closes the browser without ever throwing or hanging (bounded). */
export async function closeBrowser(browser: Browser | undefined): Promise<void> {
  if (!browser) return;
  try {
    await withTimeout(browser.close(), 10_000, 'closing Chromium');
  } catch {
    /* the process is killed by playwright on exit anyway */
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

function showBytes(b: Buffer | string): { text: string; nul: boolean; binary: boolean } {
  const binary = typeof b !== 'string';
  const s = typeof b === 'string' ? b : b.toString('utf8');
  const redacted = s
    .replace(/(<password>)[^<]*(<\/password>)/g, '$1***$2')
    .replace(/(<auth\b[^>]*>)[^<]+(<\/auth>)/g, '$1***$2');
  return { text: redacted.replace(/\0/g, '\\0'), nul: s.includes('\0'), binary };
}

export interface OpenPageOptions {
  /** Name used in failure messages and screenshots. */
  name?: string;
  /** Navigation timeout, ms. Default 15000. */
  timeoutMs?: number;
  viewport?: { width: number; height: number };
  /** Accept the test CA's (or any) certificate: for https:// pages and wss:// sockets. */
  ignoreHTTPSErrors?: boolean;
}

/** Opens `url` in a new context (own cookies and storage) and starts recording what happens there. */
export async function openPage(browser: Browser, url: string, opts: OpenPageOptions = {}): Promise<Page> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? { width: 1280, height: 900 },
    ignoreHTTPSErrors: opts.ignoreHTTPSErrors ?? false,
  });
  const page = await context.newPage();
  const rec: PageRecord = { name: opts.name ?? url, context, started: Date.now(), console: [], frames: [], requests: [], sockets: 0 };
  records.set(page, rec);
  const since = (): number => Date.now() - rec.started;
  const keep = <T>(list: T[], item: T, max: number): void => {
    list.push(item);
    if (list.length > max) list.splice(0, list.length - max);
  };
  page.on('console', (m) => keep(rec.console, `[${since()} ms] console.${m.type()}: ${m.text()}`, 500));
  page.on('pageerror', (e) => keep(rec.console, `[${since()} ms] page error: ${e.message}`, 500));
  page.on('requestfailed', (r) => keep(rec.console, `[${since()} ms] request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`, 500));
  page.on('response', (r) => {
    if (r.status() >= 400) keep(rec.console, `[${since()} ms] HTTP ${r.status()} ${r.url()}`, 500);
  });
  page.on('request', (r) => keep(rec.requests, r.url(), 2000));
  // Note: Chromium reports the frames a page receives, but not the ones Ruffle sends.
  page.on('websocket', (ws) => {
    const url = ws.url();
    const socket = rec.sockets++;
    const frame = (dir: WsFrame['dir'], text = ''): void =>
      keep(rec.frames, { dir, socket, url, text, nul: false, binary: false, t: since() }, 2000);
    frame('open');
    ws.on('framesent', (f) => keep(rec.frames, { dir: 'sent', socket, url, ...showBytes(f.payload), t: since() }, 2000));
    ws.on('framereceived', (f) => keep(rec.frames, { dir: 'received', socket, url, ...showBytes(f.payload), t: since() }, 2000));
    ws.on('socketerror', (e) => frame('error', e));
    ws.on('close', () => frame('close'));
  });
  try {
    await page.goto(url, { waitUntil: 'load', timeout: opts.timeoutMs ?? 15_000 });
  } catch (err) {
    const msg = `opening ${url} failed: ${(err as Error).message}\n${await describePage(page)}`;
    await closePage(page);
    throw new Error(msg);
  }
  return page;
}

/** Closes a page's context (bounded, never throws). */
export async function closePage(page: Page | undefined): Promise<void> {
  if (!page) return;
  const rec = records.get(page);
  try {
    await withTimeout(rec ? rec.context.close() : page.close(), 5000, 'closing a page');
  } catch {
    /* the browser goes away in the after hook */
  }
}

/** The WebSocket frames seen by the page so far (payload text with NULs shown as \0, passwords masked). */
export function wsFrames(page: Page): readonly WsFrame[] {
  return records.get(page)?.frames ?? [];
}

/** URLs of every request the page made (documents, scripts, wasm, SWF, WebSockets). */
export function requestUrls(page: Page): readonly string[] {
  return records.get(page)?.requests ?? [];
}

/** All events the page recorded, per instance (empty object when the page is gone). */
export async function allEvents(page: Page): Promise<Record<string, SwfEvent[]>> {
  try {
    return await withTimeout(
      page.evaluate(() => (globalThis as unknown as { fxgEvents?: Record<string, SwfEvent[]> }).fxgEvents ?? {}),
      5000,
      'reading window.fxgEvents',
    );
  } catch {
    return {};
  }
}

async function pageLog(page: Page): Promise<{ instance: string; text: string; t: number }[]> {
  try {
    return await withTimeout(
      page.evaluate(() => (globalThis as unknown as { fxgPageLog?: { instance: string; text: string; t: number }[] }).fxgPageLog ?? []),
      5000,
      'reading window.fxgPageLog',
    );
  } catch {
    return [];
  }
}

/** A readable account of the page for failure messages: events, page log, console, WebSocket tail. */
export async function describePage(page: Page): Promise<string> {
  const rec = records.get(page);
  const out: string[] = [`--- page ${rec?.name ?? '?'} (${page.isClosed() ? 'closed' : page.url()}) ---`];
  const events = page.isClosed() ? {} : await allEvents(page);
  for (const [instance, list] of Object.entries(events)) {
    out.push(`events of ${instance} (${list.length}):`);
    for (const e of list.slice(-40)) out.push(`  [${e.t} ms] ${e.type} ${JSON.stringify(e.data)}`);
  }
  if (Object.keys(events).length === 0) out.push('(no window.fxgEvents)');
  const log = page.isClosed() ? [] : await pageLog(page);
  if (log.length > 0) {
    out.push('page log:');
    for (const l of log.slice(-30)) out.push(`  [${l.t} ms] ${l.instance}: ${l.text}`);
  }
  if (rec && rec.console.length > 0) {
    out.push('console:');
    for (const l of rec.console.slice(-30)) out.push(`  ${l}`);
  }
  if (rec && rec.frames.length > 0) {
    out.push('WebSocket frames (last 30):');
    for (const f of rec.frames.slice(-30)) {
      const body = f.text.length > 300 ? `${f.text.slice(0, 300)}… (${f.text.length} chars)` : f.text;
      out.push(`  [${f.t} ms] #${f.socket} ${f.dir} ${f.dir === 'open' ? f.url : ''}${body}`);
    }
  }
  return out.join('\n');
}

export interface WaitOptions {
  predicate?: (data: EventData) => boolean;
  /** Default 15000 ms. */
  timeoutMs?: number;
  /** Only events at or after this index of the instance's list count. Default 0. */
  since?: number;
  /**
   * Event types that end the wait at once with a failure (when they come at or after `since`).
   * Default: loginFailed, streamError and disconnected, unless one of them is what is awaited.
   */
  failOn?: string[];
}

const TERMINAL = ['loginFailed', 'streamError', 'disconnected'];

/**
 * Resolves with the first event of `type` from `instance` (matching `predicate`), polling
 * `window.fxgEvents`. Rejects after the timeout, or as soon as a terminal event shows the
 * client will not get there, with the page's whole story in the message.
 */
export async function waitForEvent(
  page: Page,
  instance: string,
  type: string,
  predicateOrOptions?: ((data: EventData) => boolean) | WaitOptions,
  timeoutMs?: number,
): Promise<SwfEvent> {
  const o: WaitOptions = typeof predicateOrOptions === 'function' ? { predicate: predicateOrOptions } : { ...predicateOrOptions };
  const limit = timeoutMs ?? o.timeoutMs ?? 15_000;
  const since = o.since ?? 0;
  const failOn = o.failOn ?? (TERMINAL.includes(type) ? [] : TERMINAL);
  const deadline = Date.now() + limit;
  let last: SwfEvent[] = [];
  for (;;) {
    if (page.isClosed()) throw new Error(`waiting for ${instance} ${type}: the page was closed`);
    const events = await allEvents(page);
    last = events[instance] ?? [];
    for (let i = since; i < last.length; i++) {
      const e = last[i]!;
      if (e.type === type && (o.predicate === undefined || o.predicate(e.data ?? {}))) return e;
      if (failOn.includes(e.type)) {
        throw new Error(`waiting for ${instance} ${type}: got ${e.type} ${JSON.stringify(e.data)} instead\n${await describePage(page)}`);
      }
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const what = o.predicate ? `${type} (matching ${o.predicate.toString().slice(0, 120)})` : type;
  throw new Error(`no ${what} event from ${instance} within ${limit} ms\n${await describePage(page)}`);
}

/** How many events `instance` has recorded so far (to wait only for later ones: WaitOptions.since). */
export async function eventCount(page: Page, instance: string): Promise<number> {
  return ((await allEvents(page))[instance] ?? []).length;
}

/**
 * Calls the SWF's ExternalInterface callback `method` on the page's `instance` player
 * (window.fxgDemo.call). Waits up to `waitMs` for the SWF to have registered it.
 */
export async function callSwf(page: Page, instance: string, method: string, ...args: unknown[]): Promise<unknown> {
  const waitMs = 5000;
  const deadline = Date.now() + waitMs;
  let lastError = '';
  for (;;) {
    try {
      return await withTimeout(
        page.evaluate(
          ([i, m, a]) => {
            const demo = (globalThis as unknown as { fxgDemo?: { call: (i: string, m: string, ...a: unknown[]) => unknown } }).fxgDemo;
            if (!demo) throw new Error('window.fxgDemo is missing: not the demo page?');
            return demo.call(i, m, ...a);
          },
          [instance, method, args] as [string, string, unknown[]],
        ),
        10_000,
        `calling ${instance}.${method}`,
      );
    } catch (err) {
      lastError = (err as Error).message;
      if (!/has no ExternalInterface callback|not ready|was not started/.test(lastError) || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`callSwf ${instance}.${method}(${args.map((a) => JSON.stringify(a)).join(', ')}) failed: ${lastError}\n${await describePage(page)}`);
}

/** Saves test-artifacts/screenshots/NAME.png (full page). Never throws; returns the path or undefined. */
export async function screenshot(page: Page | undefined, name: string): Promise<string | undefined> {
  if (!page || page.isClosed()) return undefined;
  const file = join(SCREENSHOT_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  try {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await withTimeout(page.screenshot({ path: file, fullPage: true, timeout: 10_000 }), 12_000, `screenshot ${name}`);
    return file;
  } catch (err) {
    console.error(`screenshot ${name} failed: ${(err as Error).message}`);
    return undefined;
  }
}
