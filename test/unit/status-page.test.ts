import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SaxesParser } from 'saxes';
import { ConnectionHistory, type HistoryTimers } from '../../src/ops/connection-history.js';
import { MAX_FIELD_CHARS, RecentLoginFailures, type LoginFailure } from '../../src/ops/login-failures.js';
import { escapeHtml, niceScale, renderStatusPage, statusJson, type StatusSnapshot } from '../../src/ops/status-page.js';

const NOW = new Date('2025-03-14T12:34:56.000Z');
const MIN = 60_000;
const HOUR = 3_600_000;

function failure(n: number, extra: Partial<LoginFailure> = {}): LoginFailure {
  return { at: new Date(NOW.getTime() - n * 1000), transport: 'tcp', remoteAddress: `192.0.2.${n}`, method: 'sasl', reason: 'not-authorized', ...extra };
}

function snapshot(extra: Partial<StatusSnapshot> = {}): StatusSnapshot {
  const history = Array.from({ length: 360 }, (_, i) => ({
    at: new Date(NOW.getTime() - (359 - i) * 10_000),
    byTransport: { tcp: 10 + (i % 7), websocket: 20 + Math.round(10 * Math.sin(i / 30)), rtmp: i > 200 ? 3 : 0 },
  }));
  return {
    version: '0.1.0',
    startedAt: new Date(NOW.getTime() - (3 * 86_400 + 4 * 3600 + 5 * 60) * 1000),
    now: NOW,
    connections: [
      { transport: 'tcp', dialect: 'raw', open: 4 },
      { transport: 'tcp', dialect: 'nul', open: 9 },
      { transport: 'websocket', dialect: 'raw', open: 22 },
      { transport: 'rtmp', dialect: 'xiff', open: 3 },
      { transport: 'rtmpt', dialect: 'unknown', open: 0 },
    ],
    recentLoginFailures: [
      failure(5, { user: 'alice', dialect: 'nul' }),
      failure(70, { transport: 'rtmp', dialect: 'redfire', method: 'rtmp', reason: 'bad-auth-stub', user: undefined }),
    ],
    upstreams: [
      { domain: 'example.com', target: 'xmpp.example.com:5222', state: 'up', checkedAt: new Date(NOW.getTime() - 12_000) },
      { domain: 'example.org', target: 'xmpp.example.org:5222', state: 'down', checkedAt: new Date(NOW.getTime() - 3_000), detail: 'ECONNREFUSED' },
    ],
    components: [{ domain: 'rooms.example.com', state: 'online', since: new Date(NOW.getTime() - 2 * 3600_000) }],
    history,
    ...extra,
  };
}

/** Parses the whole document as XML (strict, namespace-aware); throws on any well-formedness error. */
function parseXml(doc: string): { elements: { name: string; attributes: Record<string, string>; text: string }[] } {
  const parser = new SaxesParser({ xmlns: true });
  const elements: { name: string; attributes: Record<string, string>; text: string }[] = [];
  const open: (typeof elements)[number][] = [];
  parser.on('opentag', (tag) => {
    const attributes: Record<string, string> = {};
    for (const [k, a] of Object.entries(tag.attributes)) attributes[k] = a.value;
    const el = { name: tag.local, attributes, text: '' };
    elements.push(el);
    open.push(el);
  });
  parser.on('closetag', () => void open.pop());
  parser.on('text', (t) => {
    for (const el of open) el.text += t;
  });
  parser.on('error', (e) => {
    throw e;
  });
  parser.write(doc).close();
  return { elements };
}

/** The text the page shows, entities decoded (as a reader would see it). */
function visibleText(doc: string): string {
  return parseXml(doc).elements.find((e) => e.name === 'body')!.text;
}

describe('RecentLoginFailures', () => {
  test('keeps the newest `capacity` entries, newest first', () => {
    const ring = new RecentLoginFailures(3);
    assert.deepEqual(ring.list(), []);
    for (let n = 1; n <= 5; n++) ring.record(failure(n));
    assert.equal(ring.size, 3);
    assert.deepEqual(
      ring.list().map((f) => f.remoteAddress),
      ['192.0.2.5', '192.0.2.4', '192.0.2.3'],
    );
  });

  test('default capacity is 50; before it fills, order is still newest first', () => {
    const ring = new RecentLoginFailures();
    assert.equal(ring.capacity, 50);
    ring.record(failure(1));
    ring.record(failure(2));
    assert.deepEqual(
      ring.list().map((f) => f.remoteAddress),
      ['192.0.2.2', '192.0.2.1'],
    );
    for (let n = 0; n < 120; n++) ring.record(failure(n % 250));
    assert.equal(ring.list().length, 50);
  });

  test('capacity 0 keeps nothing; a bad capacity is refused', () => {
    const ring = new RecentLoginFailures(0);
    ring.record(failure(1));
    assert.deepEqual(ring.list(), []);
    assert.throws(() => new RecentLoginFailures(-1), RangeError);
    assert.throws(() => new RecentLoginFailures(2.5), RangeError);
  });

  test('stores a copy, and cuts a huge user name without splitting a surrogate pair', () => {
    const ring = new RecentLoginFailures(2);
    const at = new Date(NOW);
    ring.record({ ...failure(1), at, user: `${'x'.repeat(MAX_FIELD_CHARS - 2)}😀${'y'.repeat(10_000)}` });
    at.setTime(0);
    const [stored] = ring.list();
    assert.equal(stored!.at.getTime(), NOW.getTime());
    assert.ok(stored!.user!.length <= MAX_FIELD_CHARS);
    assert.ok(stored!.user!.endsWith('…'));
    assert.doesNotMatch(stored!.user!, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    assert.equal(stored!.dialect, undefined);
    assert.ok(!('dialect' in stored!));
  });
});

describe('ConnectionHistory', () => {
  /** A clock and a timer the test advances by hand. */
  function fakeTime(start: number): { clock: { t: number }; timers: HistoryTimers & { tick(): void; active: number; unrefs: number } } {
    const clock = { t: start };
    const callbacks = new Map<number, () => void>();
    let id = 0;
    const timers = {
      active: 0,
      unrefs: 0,
      setInterval(callback: () => void, _ms: number) {
        callbacks.set(++id, callback);
        timers.active = callbacks.size;
        return { id, unref: () => void timers.unrefs++ };
      },
      clearInterval(handle: unknown) {
        callbacks.delete((handle as { id: number }).id);
        timers.active = callbacks.size;
      },
      tick() {
        for (const cb of callbacks.values()) cb();
      },
    };
    return { clock, timers };
  }

  test('samples at start and on each tick, keeps only the window, oldest first', () => {
    const { clock, timers } = fakeTime(NOW.getTime());
    let open = 0;
    const history = new ConnectionHistory(() => ({ tcp: open, websocket: 2 * open }), { intervalMs: 10_000, windowMs: 60_000, now: () => clock.t, timers });
    history.start();
    assert.equal(timers.active, 1);
    assert.equal(timers.unrefs, 1, 'the timer must not hold the process open');
    assert.equal(history.samples().length, 1);
    for (let i = 1; i <= 20; i++) {
      clock.t += 10_000;
      open = i;
      timers.tick();
    }
    const samples = history.samples();
    // 60 s window at 10 s: the sample exactly 60 s old is kept, so 7.
    assert.equal(samples.length, 7);
    assert.deepEqual(
      samples.map((s) => s.byTransport['tcp']),
      [14, 15, 16, 17, 18, 19, 20],
    );
    assert.deepEqual(samples[6]!.byTransport, { tcp: 20, websocket: 40 });
    assert.equal(samples[6]!.at.getTime(), clock.t);
    assert.ok(samples.every((s, i) => i === 0 || s.at > samples[i - 1]!.at));
    history.stop();
    assert.equal(timers.active, 0);
    assert.equal(history.running, false);
  });

  test('samples() drops what has aged out even when no new sample came', () => {
    const { clock, timers } = fakeTime(NOW.getTime());
    const history = new ConnectionHistory(() => ({ tcp: 1 }), { windowMs: HOUR, now: () => clock.t, timers });
    history.start();
    history.stop();
    clock.t += 30 * MIN;
    assert.equal(history.samples().length, 1);
    clock.t += 31 * MIN;
    assert.deepEqual(history.samples(), []);
  });

  test('sampleNow(at) for tests; a throwing reader skips the sample; results are copies', () => {
    let fail = false;
    const errors: unknown[] = [];
    const counts = { tcp: 3 };
    const history = new ConnectionHistory(
      () => {
        if (fail) throw new Error('boom');
        return counts;
      },
      { now: () => NOW.getTime(), onError: (e) => errors.push(e) },
    );
    history.sampleNow(new Date(NOW.getTime() - 20_000));
    fail = true;
    history.sampleNow(new Date(NOW.getTime() - 10_000));
    fail = false;
    counts.tcp = 4;
    history.sampleNow(NOW);
    history.sampleNow(new Date(NOW.getTime() - 15_000)); // late: goes in its place
    const samples = history.samples();
    assert.equal(errors.length, 1);
    assert.deepEqual(
      samples.map((s) => NOW.getTime() - s.at.getTime()),
      [20_000, 15_000, 0],
    );
    samples[0]!.byTransport['tcp'] = 99;
    assert.equal(history.samples()[0]!.byTransport['tcp'], 3);
  });

  test('an interval or window that makes no sense is refused', () => {
    assert.throws(() => new ConnectionHistory(() => ({}), { intervalMs: 0 }), RangeError);
    assert.throws(() => new ConnectionHistory(() => ({}), { intervalMs: 10_000, windowMs: 5_000 }), RangeError);
  });

  test('with the real timers: start() samples at once, stop() clears the interval', () => {
    const history = new ConnectionHistory(() => ({ tcp: 1 }), { intervalMs: 1_000 });
    history.start();
    assert.equal(history.running, true);
    assert.equal(history.samples().length, 1);
    history.stop();
  });
});

describe('escapeHtml', () => {
  const HOSTILE: [string, string][] = [
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    [`"quoted" and 'single'`, '&quot;quoted&quot; and &#39;single&#39;'],
    ['Tom & Jerry &amp;', 'Tom &amp; Jerry &amp;amp;'],
    ['x]]>y', 'x]]&gt;y'],
    ['a\u0000b\u001bc\u202Ed', 'a\\u0000b\\u001Bc\\u202Ed'],
    ['lone \uD800 surrogate', 'lone \\uD800 surrogate'],
    ['pair 😀 kept, tab\tand newline\n kept', 'pair 😀 kept, tab\tand newline\n kept'],
  ];
  for (const [input, expected] of HOSTILE) {
    test(`escapes ${JSON.stringify(input)}`, () => assert.equal(escapeHtml(input), expected));
  }
  test('non-strings are stringified', () => assert.equal(escapeHtml(42), '42'));
});

describe('renderStatusPage', () => {
  test('a standalone HTML5 document that is also well-formed XML', () => {
    const html = renderStatusPage(snapshot());
    assert.match(html, /^<!DOCTYPE html>\n<html xmlns="http:\/\/www.w3.org\/1999\/xhtml" lang="en">/);
    assert.match(html, /<meta http-equiv="refresh" content="10"\/>/);
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1"\/>/);
    assert.doesNotMatch(html, /<script|<link |src=|href="http|@import|url\(/i, 'no script, no external resources');
    const { elements } = parseXml(html);
    assert.equal(elements[0]!.name, 'html');
  });

  test('header: version, uptime and total live connections', () => {
    const page = visibleText(renderStatusPage(snapshot({ version: '9.8.7' })));
    assert.match(page, /flash-xmpp-gateway 9\.8\.7/);
    assert.match(page, /Up 3 d 4 h, since 2025-03-11 08:29:56 UTC/);
    assert.match(page, /Live connections38/); // tile: 4 + 9 + 22 + 3 + 0
    assert.match(page, /XMPP servers up1 \/ 2/);
  });

  test('live connections by transport, with dialects', () => {
    const html = renderStatusPage(snapshot());
    const section = parseXml(html).elements.find((e) => e.attributes['id'] === 'connections')!;
    assert.match(section.text, /tcp13nul 9 · raw 4/);
    assert.match(section.text, /websocket22raw 22/);
    assert.match(section.text, /rtmp3xiff 3/);
    assert.match(section.text, /rtmpt0–/);
    assert.match(section.text, /Total38/);
  });

  test('upstreams and components: badges carry the state as text, not colour alone', () => {
    const html = renderStatusPage(snapshot());
    assert.match(html, /<span class="badge ok"><span aria-hidden="true">✔<\/span> up<\/span>/);
    assert.match(html, /<span class="badge bad"><span aria-hidden="true">✖<\/span> down<\/span>/);
    assert.match(html, /<span class="badge ok"><span aria-hidden="true">✔<\/span> online<\/span>/);
    const page = visibleText(html);
    assert.match(page, /example\.orgxmpp\.example\.org:5222✖ down12:34:53 3 s agoECONNREFUSED/);
    assert.match(page, /rooms\.example\.com✔ online10:34:56 2 h 0 min ago/);
    const connecting = renderStatusPage(snapshot({ components: [{ domain: 'c.example', state: 'connecting' }], upstreams: [{ domain: 'u', target: 't', state: 'unknown' }] }));
    assert.match(connecting, /badge warn.*connecting/);
    assert.match(connecting, /badge unknown.*unknown/);
  });

  test('recent login failures: time, transport/dialect, address, user, method, reason', () => {
    const page = visibleText(renderStatusPage(snapshot()));
    assert.match(page, /12:34:51 5 s agotcp \/ nul192\.0\.2\.5alicesaslnot-authorized/);
    assert.match(page, /12:33:46 1 min 10 s agortmp \/ redfire192\.0\.2\.70–rtmpbad-auth-stub/);
    assert.match(page, /Recent failed logins2/);
  });

  test('hostile strings from clients are escaped everywhere', () => {
    const evil = '<script>alert("x")</script>]]>&\'"';
    const html = renderStatusPage(
      snapshot({
        version: evil,
        connections: [{ transport: evil, dialect: evil, open: 1 }],
        recentLoginFailures: [failure(1, { user: evil, reason: evil, dialect: evil, transport: evil, method: evil, remoteAddress: evil })],
        upstreams: [{ domain: evil, target: evil, state: evil as 'up', detail: evil }],
        components: [{ domain: evil, state: evil as 'online' }],
        history: [{ at: NOW, byTransport: { [evil]: 2 } }],
      }),
    );
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /]]>/);
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;]]&gt;&amp;&#39;&quot;'));
    // Still well formed, and the reader sees the string as it was sent.
    const page = visibleText(html);
    assert.ok(page.includes(evil), 'shown as text');
    assert.ok(page.split(evil).length - 1 >= 8, 'in every section');
    // An unknown state string gets the neutral badge.
    assert.match(html, /badge unknown/);
  });

  test('control characters and bidi overrides cannot break the document or disguise a name', () => {
    const html = renderStatusPage(snapshot({ recentLoginFailures: [failure(1, { user: 'adm\u202Enimda\u0000\uDFFF' })] }));
    parseXml(html);
    assert.ok(html.includes('adm\\u202Enimda\\u0000\\uDFFF'));
  });

  test('the chart: well-formed SVG, one point per sample per transport, axes, legend, accessible name', () => {
    const s = snapshot();
    const html = renderStatusPage(s);
    const { elements } = parseXml(html);
    const svg = elements.find((e) => e.name === 'svg' && e.attributes['class'] === 'chart')!;
    assert.ok(svg, 'chart present');
    assert.equal(svg.attributes['role'], 'img');
    assert.equal(svg.attributes['aria-labelledby'], 'chart-title chart-desc');
    assert.equal(svg.attributes['data-samples'], '360');
    assert.match(elements.find((e) => e.attributes['id'] === 'chart-title')!.text, /^Open connections by transport, 11:34 to 12:34 UTC$/);
    assert.match(elements.find((e) => e.attributes['id'] === 'chart-desc')!.text, /360 samples\. Latest \(12:34:56 UTC\)/);

    const lines = elements.filter((e) => e.name === 'polyline' && e.attributes['class'] === 'line');
    assert.equal(lines.length, 3, 'one per transport in the history');
    for (const line of lines) {
      const points = line.attributes['points']!.trim().split(/\s+/);
      assert.equal(points.length, s.history.length);
      for (const p of points) {
        const [x, y] = p.split(',').map(Number);
        assert.ok(x! >= 0 && x! <= 1000 && y! >= 0 && y! <= 190, `point ${p} inside the plot`);
      }
    }
    const areas = elements.filter((e) => e.name === 'polygon' && e.attributes['class'] === 'area');
    assert.equal(areas.length, 3);
    for (const area of areas) assert.equal(area.attributes['points']!.trim().split(/\s+/).length, 2 * s.history.length);

    // Time labels every 10 minutes on round clock times.
    const xLabels = elements.filter((e) => e.name === 'text' && e.attributes['class'] === 'xlabel').map((e) => e.text);
    assert.deepEqual(xLabels, ['11:40', '11:50', '12:00', '12:10', '12:20', '12:30']);
    // Y ticks: round steps from 0 past the peak total (tcp ≤ 16, websocket ≤ 30, rtmp 3: at most 49).
    const yLabels = elements.filter((e) => e.name === 'text' && e.attributes['class'] === 'ylabel').map((e) => Number(e.text));
    assert.deepEqual(yLabels, [0, 10, 20, 30, 40, 50]);

    const legend = elements.find((e) => e.name === 'ul' && e.attributes['class'] === 'legend')!;
    assert.match(legend.text, /^tcp \d+ nowwebsocket \d+ nowrtmp 3 now$/);
  });

  test('niceScale: round steps of 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual(niceScale(0), { top: 1, step: 1 });
    assert.deepEqual(niceScale(1), { top: 1, step: 1 });
    assert.deepEqual(niceScale(3), { top: 3, step: 1 });
    assert.deepEqual(niceScale(7), { top: 8, step: 2 });
    assert.deepEqual(niceScale(49), { top: 50, step: 10 });
    assert.deepEqual(niceScale(137), { top: 150, step: 50 });
    assert.deepEqual(niceScale(1234), { top: 1500, step: 500 });
    for (let max = 1; max < 5000; max += 7) {
      const { top, step } = niceScale(max);
      assert.ok(top >= max && top / step <= 5 && top / step >= 1, `max ${max}: ${top}/${step}`);
      assert.match(String(step), /^[125]0*$/);
    }
  });

  test('a single sample still shows (as a dot), all-zero history has a scale', () => {
    const one = renderStatusPage(snapshot({ history: [{ at: NOW, byTransport: { tcp: 2 } }] }));
    const { elements } = parseXml(one);
    assert.equal(elements.filter((e) => e.name === 'polyline').length, 1);
    assert.equal(elements.filter((e) => e.name === 'line' && e.attributes['class'] === 'dot').length, 1);
    const zero = renderStatusPage(snapshot({ history: [{ at: new Date(NOW.getTime() - 10_000), byTransport: { tcp: 0 } }, { at: NOW, byTransport: {} }] }));
    parseXml(zero);
    assert.match(zero, /class="ylabel"[^>]*>1</);
  });

  test('empty states: no history, no connections, no failures, nothing configured', () => {
    const html = renderStatusPage(snapshot({ history: [], connections: [], recentLoginFailures: [], upstreams: [], components: [] }));
    parseXml(html);
    assert.doesNotMatch(html, /<svg/);
    const page = visibleText(html);
    assert.match(page, /No data yet/);
    assert.match(page, /No transports reported/);
    assert.match(page, /No failed logins since the gateway started/);
    assert.match(page, /No XMPP servers configured/);
    assert.match(page, /No XMPP components configured/);
    assert.match(page, /Live connections0/);
  });
});

describe('statusJson', () => {
  test('the same facts, dates as ISO strings', () => {
    const s = snapshot();
    const json = JSON.parse(statusJson(s));
    assert.equal(json.version, '0.1.0');
    assert.equal(json.now, '2025-03-14T12:34:56.000Z');
    assert.equal(json.startedAt, '2025-03-11T08:29:56.000Z');
    assert.equal(json.uptimeSeconds, 3 * 86_400 + 4 * 3600 + 5 * 60);
    assert.equal(json.totalConnections, 38);
    assert.deepEqual(json.connections[1], { transport: 'tcp', dialect: 'nul', open: 9 });
    assert.deepEqual(json.recentLoginFailures[0], {
      at: '2025-03-14T12:34:51.000Z',
      transport: 'tcp',
      dialect: 'nul',
      remoteAddress: '192.0.2.5',
      user: 'alice',
      method: 'sasl',
      reason: 'not-authorized',
    });
    assert.ok(!('user' in json.recentLoginFailures[1]), 'absent fields stay absent');
    assert.deepEqual(json.upstreams[1], { domain: 'example.org', target: 'xmpp.example.org:5222', state: 'down', checkedAt: '2025-03-14T12:34:53.000Z', detail: 'ECONNREFUSED' });
    assert.deepEqual(json.components[0], { domain: 'rooms.example.com', state: 'online', since: '2025-03-14T10:34:56.000Z' });
    assert.equal(json.history.length, 360);
    assert.equal(json.history[359].at, '2025-03-14T12:34:56.000Z');
  });

  test('hostile strings round-trip, with no raw markup in the body; bad dates become null', () => {
    const evil = '</script><script>alert(1)</script>&\u2028';
    const out = statusJson(snapshot({ recentLoginFailures: [failure(1, { user: evil, at: new Date(Number.NaN) })] }));
    assert.doesNotMatch(out, /[<>&\u2028]/);
    const json = JSON.parse(out);
    assert.equal(json.recentLoginFailures[0].user, evil);
    assert.equal(json.recentLoginFailures[0].at, null);
  });
});
