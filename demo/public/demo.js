/*
 * flash-xmpp-gateway demo page: the demo SWF (demo/public/fxg-demo.swf) twice, in Ruffle, talking
 * to the gateway over its WebSocket transport (Ruffle's socketProxy).
 *
 * Loaded before /ruffle/ruffle.js: it sets Ruffle's config and defines the global the SWF
 * calls, fxgDemoEvent(type, data), before anything can run.
 *
 * Why iframes for the side-by-side view: Ruffle evaluates ExternalInterface.call("fxgDemoEvent")
 * in the page's global scope with no trace of which player made the call, so two SWFs on one
 * page cannot be told apart (unless the SWF echoes an `instance` FlashVar as data.instance, which
 * this page honours when present). Each iframe is this same page showing one client
 * (?only=left / ?only=right&embed=1), so every SWF has a global of its own; the iframes relay
 * their events to the parent page.
 *
 * Query parameters:
 *   only=left|right     show one client (no iframes); the per-client parameters below apply to it
 *   autologin=1         log the client(s) in at once (else they wait for Start)
 *   renderer=canvas     Ruffle's preferredRenderer (canvas|webgl|wgpu-webgl|webgpu); tests use canvas
 *   proxy=ws://H:P/xmlsocket   the WebSocket Ruffle's socketProxy uses (default: this page's
 *                       origin + /xmlsocket, wss:// on https pages)
 *   domain=D            the XMPP domain (default localhost); the room defaults to lobby@conference.D
 *   per client, as `left.NAME=` / `right.NAME=` (or plain `NAME=` with only=):
 *     user, password, transport (xmlsocket|socket), resource, room, nick, autologin
 *   embed=1             (with only=) just the client, no text: the iframes of the two-client view
 *   Defaults: left = XMLSocket as alice/alice-demo, right = flash.net.Socket as bob/bob-demo.
 *
 * Page API (used by test/support/browser.ts and handy in the devtools console):
 *   window.fxgEvents[instance]  array of {type, data, t}: every event the SWF reported
 *                               (t = ms since the page started, performance.now())
 *   window.fxgPageLog           array of {instance, text, t}: what the page itself saw
 *                               (Ruffle load errors, SWF traces, starts)
 *   window.fxgDemo.instances    the instance names shown on this page ('left', 'right')
 *   window.fxgDemo.start(instance, {user, password}?)  logs that client in (the SWF's login
 *                               callback, or a fresh SWF with autologin if none is running)
 *   window.fxgDemo.call(instance, method, ...args)     calls an ExternalInterface callback
 *   window.fxgDemo.hasCallback(instance, method)       true once the SWF registered it
 *   window.fxgDemo.settings(instance)                  the FlashVars the client runs with
 */
(function () {
  'use strict';

  var query = new URLSearchParams(location.search);
  var INSTANCES = ['left', 'right'];
  var only = INSTANCES.indexOf(query.get('only')) >= 0 ? query.get('only') : null;
  var embedded = query.get('embed') === '1' && only !== null;
  var domain = query.get('domain') || 'localhost';

  // The host and port the SWF dials; socketProxy must name exactly these (spec: Ruffle).
  var SWF_HOST = 'localhost';
  var SWF_PORT = 5222;
  var defaultProxyUrl = (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/xmlsocket';
  var proxyParam = query.get('proxy');
  var proxyUrl = proxyParam && /^wss?:\/\/[^\s]+$/i.test(proxyParam) ? proxyParam : defaultProxyUrl;

  var DEFAULTS = {
    left: { title: 'XMLSocket', detail: 'NUL-framed packets, like XIFF 2 and AS2/AS3 chat apps', transport: 'xmlsocket', user: 'alice', password: 'alice-demo', },
    right: { title: 'flash.net.Socket', detail: 'a raw XML stream, like XIFF 3, SparkWeb, hxmpp', transport: 'socket', user: 'bob', password: 'bob-demo', },
  };
  var PER_CLIENT = ['user', 'password', 'transport', 'resource', 'room', 'nick', 'autologin'];

  /** A per-client query parameter: `left.user=…` always, plain `user=…` when the page shows one client. */
  function param(instance, name) {
    var prefixed = query.get(instance + '.' + name);
    if (prefixed !== null) return prefixed;
    if (only === instance || name === 'autologin') return query.get(name);
    return null;
  }

  var t0 = performance.now();
  function now() {
    return Math.round(performance.now() - t0);
  }

  // ---------------------------------------------------------------- Ruffle configuration
  var rufflePlayerConfig = {
    publicPath: '/ruffle/',
    autoplay: 'on',
    allowScriptAccess: true,
    allowNetworking: 'all',
    unmuteOverlay: 'hidden',
    splashScreen: false,
    letterbox: 'on',
    warnOnUnsupportedContent: false,
    showSwfDownload: false,
    socketProxy: [{ host: SWF_HOST, port: SWF_PORT, proxyUrl: proxyUrl }],
  };
  var renderer = query.get('renderer');
  if (renderer && /^(canvas|webgl|wgpu-webgl|webgpu)$/.test(renderer)) rufflePlayerConfig.preferredRenderer = renderer;
  window.RufflePlayer = window.RufflePlayer || {};
  window.RufflePlayer.config = rufflePlayerConfig;

  // ---------------------------------------------------------------- event records
  window.fxgEvents = window.fxgEvents || {};
  window.fxgPageLog = window.fxgPageLog || [];
  var shown = only ? [only] : INSTANCES.slice();
  shown.forEach(function (i) {
    window.fxgEvents[i] = window.fxgEvents[i] || [];
  });

  var clients = {}; // instance -> client state (only where the SWF runs in this document)
  var frames = {}; // instance -> iframe (side-by-side view)

  function plain(data) {
    // A copy that belongs to this page (the SWF's objects, or another frame's) and is JSON-safe.
    try {
      var s = JSON.stringify(data === undefined ? {} : data);
      return s === undefined ? {} : JSON.parse(s);
    } catch (e) {
      return { unserialisable: String(data) };
    }
  }

  function pageLog(instance, text) {
    var rec = { instance: instance, text: String(text), t: now() };
    window.fxgPageLog.push(rec);
    if (window.parent !== window && typeof window.parent.fxgDemoRelayPageLog === 'function') {
      try {
        window.parent.fxgDemoRelayPageLog(rec);
      } catch (e) {
        /* parent gone */
      }
    }
    var c = clients[instance];
    if (c) appendLog(c, 'page', String(text));
    if (window.console) console.log('[fxg ' + instance + '] ' + text);
  }

  /** Called by the SWF through ExternalInterface. */
  window.fxgDemoEvent = function (type, data) {
    var d = plain(data);
    var instance = d && typeof d.instance === 'string' && shown.indexOf(d.instance) >= 0 ? d.instance : only;
    if (instance === null) {
      // Two SWFs in one document and no instance in the data: cannot happen with the iframes.
      instance = 'unknown';
      window.fxgEvents.unknown = window.fxgEvents.unknown || [];
    }
    record(instance, { type: String(type), data: d, t: now() });
    return true;
  };

  function record(instance, rec) {
    window.fxgEvents[instance].push(rec);
    if (window.parent !== window && typeof window.parent.fxgDemoRelay === 'function') {
      try {
        window.parent.fxgDemoRelay(instance, rec);
      } catch (e) {
        /* parent gone */
      }
    }
    var c = clients[instance];
    if (c) onSwfEvent(c, rec);
  }

  // In the side-by-side view the iframes report here.
  window.fxgDemoRelay = function (instance, rec) {
    if (!window.fxgEvents[instance]) window.fxgEvents[instance] = [];
    window.fxgEvents[instance].push(plain(rec));
  };
  window.fxgDemoRelayPageLog = function (rec) {
    window.fxgPageLog.push(plain(rec));
  };

  // ---------------------------------------------------------------- human-readable log
  function describe(type, d) {
    switch (type) {
      case 'ready':
        return 'SWF ready: ' + d.transport + ' to ' + d.host + ':' + d.port + (d.external ? '' : ' (no ExternalInterface!)');
      case 'status':
        return d.text || '';
      case 'connected':
        return 'connected: the server\u2019s stream header arrived';
      case 'loggedIn':
        return 'logged in as ' + d.jid;
      case 'loginFailed':
        return 'login failed: ' + (d.condition || '') + (d.text ? ' (' + d.text + ')' : '');
      case 'roster':
        var items = Array.isArray(d.items) ? d.items : [];
        return 'roster: ' + (items.length === 0 ? 'empty' : items.map(function (x) { return (x && (x.jid || x.name)) || String(x); }).join(', '));
      case 'presence':
        return 'presence from ' + d.from + ': ' + (d.type || 'available') + (d.show ? ' (' + d.show + ')' : '');
      case 'message':
        return 'message from ' + d.from + ': ' + d.body;
      case 'joined':
        return 'joined ' + d.room + ' as ' + d.nick;
      case 'groupchat':
        return d.room + ' \u2039' + d.nick + '\u203a ' + d.body;
      case 'streamError':
        return 'stream error: ' + (d.condition || '') + (d.text ? ' (' + d.text + ')' : '');
      case 'disconnected':
        return 'disconnected';
      default:
        return JSON.stringify(d);
    }
  }

  function clock() {
    var d = new Date();
    var p = function (n) { return (n < 10 ? '0' : '') + n; };
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function appendLog(c, type, text) {
    var li = document.createElement('li');
    li.className = 'ev ev-' + type;
    var time = document.createElement('time');
    time.textContent = clock();
    var kind = document.createElement('b');
    kind.textContent = type;
    var body = document.createElement('span');
    body.textContent = text;
    li.appendChild(time);
    li.appendChild(kind);
    li.appendChild(body);
    c.log.appendChild(li);
    while (c.log.childNodes.length > 200) c.log.removeChild(c.log.firstChild);
    c.log.scrollTop = c.log.scrollHeight;
  }

  function setState(c, state, text) {
    c.state = state;
    c.stateEl.textContent = text;
    c.root.setAttribute('data-state', state);
  }

  function onSwfEvent(c, rec) {
    appendLog(c, rec.type, describe(rec.type, rec.data || {}));
    switch (rec.type) {
      case 'connected':
        setState(c, 'connected', 'connected, logging in\u2026');
        break;
      case 'loggedIn':
        setState(c, 'online', 'online as ' + rec.data.jid);
        break;
      case 'loginFailed':
        setState(c, 'failed', 'login failed: ' + (rec.data.condition || 'unknown'));
        break;
      case 'streamError':
        setState(c, 'failed', 'stream error: ' + (rec.data.condition || 'unknown'));
        break;
      case 'disconnected':
        if (c.state !== 'failed') setState(c, 'offline', 'disconnected');
        break;
    }
  }

  // ---------------------------------------------------------------- one client (one SWF)
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (ch) {
      if (ch) e.appendChild(typeof ch === 'string' ? document.createTextNode(ch) : ch);
    });
    return e;
  }

  function field(label, input) {
    return el('label', {}, [el('span', { text: label }), input]);
  }

  function settingsFor(instance) {
    var def = DEFAULTS[instance];
    var transport = param(instance, 'transport');
    var password = param(instance, 'password');
    return {
      transport: transport === 'socket' || transport === 'xmlsocket' ? transport : def.transport,
      user: param(instance, 'user') || def.user,
      password: password !== null ? password : def.password,
      resource: param(instance, 'resource') || '',
      room: param(instance, 'room') || 'lobby@conference.' + domain,
      nick: param(instance, 'nick') || '',
      autologin: param(instance, 'autologin') === '1',
    };
  }

  function buildClient(container, instance) {
    var def = DEFAULTS[instance];
    var s = settingsFor(instance);
    var c = { instance: instance, player: null, state: 'idle', settings: s };
    var id = function (name) {
      return name + '-' + instance;
    };

    c.user = el('input', { id: id('user'), name: 'user', value: s.user, autocomplete: 'username', spellcheck: 'false' });
    c.password = el('input', { id: id('password'), name: 'password', type: 'password', value: s.password, autocomplete: 'current-password' });
    c.startBtn = el('button', { id: id('start'), type: 'submit', text: 'Start' });
    c.logoutBtn = el('button', { id: id('logout'), type: 'button', text: 'Log out' });
    var loginForm = el('form', { class: 'login' }, [field('user', c.user), field('password', c.password), c.startBtn, c.logoutBtn]);

    c.stage = el('div', { class: 'stage', id: id('stage') }, [el('p', { class: 'placeholder', text: 'Loading Ruffle\u2026' })]);
    c.stateEl = el('span', { class: 'state', id: id('state'), text: 'not started' });
    c.log = el('ol', { class: 'log', id: id('log'), 'aria-live': 'polite' });

    c.root = el('section', { class: 'client client-' + instance, id: id('client'), 'data-instance': instance, 'data-state': 'idle' }, [
      el('h2', {}, [def.title, el('small', { text: ' \u2014 ' + def.detail })]),
      loginForm,
      c.stage,
      el('p', { class: 'status' }, [
        el('span', { text: 'status: ' }),
        c.stateEl,
        el('span', { class: 'transport', text: ' \u00b7 ' + s.transport + ' to ' + SWF_HOST + ':' + SWF_PORT + ' \u2192 ' + proxyUrl }),
      ]),
      el('h3', { text: 'events from the SWF' }),
      c.log,
    ]);
    container.appendChild(c.root);
    clients[instance] = c;

    loginForm.addEventListener('submit', function (e) {
      e.preventDefault();
      start(instance);
    });
    c.logoutBtn.addEventListener('click', function () {
      try {
        callSwf(instance, 'logout', []);
      } catch (err) {
        appendLog(c, 'page', String(err && err.message ? err.message : err));
      }
    });
    return c;
  }

  function flashVars(c, autologin) {
    var s = c.settings;
    var vars = {
      transport: s.transport,
      host: SWF_HOST,
      port: String(SWF_PORT),
      domain: domain,
      user: s.user,
      password: s.password,
      room: s.room,
      instance: c.instance, // not used by the SWF today; see the header
    };
    if (autologin) vars.autologin = '1';
    if (s.resource) vars.resource = s.resource;
    if (s.nick) vars.nick = s.nick;
    return vars;
  }

  /** Puts a fresh SWF on the stage; with `autologin` it logs in at once with the current settings. */
  function load(c, autologin) {
    var instance = c.instance;
    if (!window.RufflePlayer || typeof window.RufflePlayer.newest !== 'function' || !window.RufflePlayer.newest()) {
      pageLog(instance, 'Ruffle is not loaded (is /ruffle/ruffle.js served?)');
      setState(c, 'failed', 'Ruffle did not load');
      return;
    }
    if (c.player) {
      try {
        c.player.remove();
      } catch (e) {
        /* gone */
      }
      c.player = null;
    }
    c.stage.textContent = '';
    var player = window.RufflePlayer.newest().createPlayer();
    player.id = 'player-' + instance;
    player.setAttribute('name', 'player-' + instance);
    player.className = 'player';
    c.stage.appendChild(player);
    c.player = player;
    if (autologin) {
      setState(c, 'starting', 'starting\u2026');
      pageLog(instance, 'starting the ' + c.settings.transport + ' client as ' + c.settings.user + ' via ' + proxyUrl);
    } else {
      setState(c, 'idle', 'press Start to log in');
      pageLog(instance, 'loading the ' + c.settings.transport + ' client');
    }
    var api = player.ruffle();
    try {
      api.traceObserver = function (msg) {
        pageLog(instance, 'trace: ' + msg);
      };
    } catch (e) {
      /* not in this Ruffle */
    }
    player.addEventListener('loadedmetadata', function () {
      var m = api.metadata || {};
      pageLog(instance, 'SWF loaded (version ' + m.swfVersion + ', ' + m.width + '\u00d7' + m.height + ')');
    });
    api.load({ url: '/demo/fxg-demo.swf', parameters: flashVars(c, autologin) }).catch(function (e) {
      pageLog(instance, 'Ruffle could not load the SWF: ' + (e && e.message ? e.message : e));
      setState(c, 'failed', 'SWF did not load');
    });
  }

  /**
   * Logs a client in with the user and password in its form (or `creds`): through the SWF's
   * login callback when it is running, else by loading it with autologin.
   */
  function start(instance, creds) {
    if (frames[instance]) {
      var w = frames[instance].contentWindow;
      if (w && w.fxgDemo) return w.fxgDemo.start(instance, creds);
      throw new Error('the frame of ' + instance + ' is not ready');
    }
    var c = clients[instance];
    if (!c) throw new Error('no client ' + JSON.stringify(instance) + ' on this page');
    if (creds && typeof creds.user === 'string') c.user.value = creds.user;
    if (creds && typeof creds.password === 'string') c.password.value = creds.password;
    c.settings.user = c.user.value.trim();
    c.settings.password = c.password.value;
    if (c.player && typeof c.player.login === 'function') {
      setState(c, 'starting', 'logging in\u2026');
      pageLog(instance, 'logging in as ' + c.settings.user + ' via ' + proxyUrl);
      c.player.login(c.settings.user, c.settings.password);
    } else {
      load(c, true);
    }
  }

  function playerOf(instance) {
    var c = clients[instance];
    if (!c) throw new Error('no client ' + JSON.stringify(instance) + ' on this page');
    if (!c.player) throw new Error('client ' + instance + ' was not started');
    return c.player;
  }

  function hasCallback(instance, method) {
    if (frames[instance]) {
      var w = frames[instance].contentWindow;
      return !!(w && w.fxgDemo && w.fxgDemo.hasCallback(instance, method));
    }
    var c = clients[instance];
    return !!(c && c.player && typeof c.player[method] === 'function');
  }

  /** Calls an ExternalInterface callback of the SWF (registered with addCallback). */
  function callSwf(instance, method, args) {
    if (frames[instance]) {
      var w = frames[instance].contentWindow;
      if (!w || !w.fxgDemo) throw new Error('the frame of ' + instance + ' is not ready');
      return w.fxgDemo.call.apply(null, [instance, method].concat(args));
    }
    var player = playerOf(instance);
    if (typeof player[method] !== 'function') {
      throw new Error('the SWF of ' + instance + ' has no ExternalInterface callback ' + JSON.stringify(method) + ' (yet)');
    }
    return player[method].apply(player, args);
  }

  window.fxgDemo = {
    instances: shown.slice(),
    only: only,
    proxyUrl: proxyUrl,
    start: start,
    hasCallback: hasCallback,
    call: function (instance, method) {
      return callSwf(instance, method, Array.prototype.slice.call(arguments, 2));
    },
    settings: function (instance) {
      if (frames[instance]) return frames[instance].contentWindow.fxgDemo.settings(instance);
      return clients[instance] ? flashVars(clients[instance], clients[instance].settings.autologin) : null;
    },
  };

  // ---------------------------------------------------------------- the page
  function frameUrl(instance) {
    var q = new URLSearchParams();
    q.set('only', instance);
    q.set('embed', '1');
    ['renderer', 'proxy', 'domain'].forEach(function (k) {
      if (query.get(k) !== null) q.set(k, query.get(k));
    });
    PER_CLIENT.forEach(function (k) {
      var v = param(instance, k);
      if (v !== null) q.set(k, v);
    });
    return '/?' + q.toString();
  }

  function buildFrames(container) {
    shown.forEach(function (instance) {
      var f = el('iframe', { id: 'frame-' + instance, class: 'client-frame', title: DEFAULTS[instance].title + ' client', src: frameUrl(instance) });
      container.appendChild(f);
      frames[instance] = f;
    });
    // Keep each frame as tall as its content.
    setInterval(function () {
      shown.forEach(function (instance) {
        try {
          var doc = frames[instance].contentDocument;
          var h = doc && doc.documentElement ? doc.documentElement.scrollHeight : 0;
          if (h > 0 && Math.abs(frames[instance].clientHeight - h) > 4) frames[instance].style.height = h + 'px';
        } catch (e) {
          /* not ready */
        }
      });
    }, 250);
  }

  function fillSnippet() {
    var pre = document.getElementById('snippet');
    if (!pre) return;
    pre.textContent =
      '<script>\n' +
      '  window.RufflePlayer = window.RufflePlayer || {};\n' +
      '  window.RufflePlayer.config = {\n' +
      '    // exactly the host and port your SWF connects to (XMLSocket or Socket)\n' +
      '    socketProxy: [{ host: "' + SWF_HOST + '", port: ' + SWF_PORT + ', proxyUrl: "' + defaultProxyUrl + '" }],\n' +
      '  };\n' +
      '</script>\n' +
      '<script src="/ruffle/ruffle.js"></script>   <!-- Ruffle, served by you (or by this gateway) -->\n' +
      '<embed src="your-client.swf" width="640" height="480">';
    var origin = document.getElementById('origin');
    if (origin) origin.textContent = defaultProxyUrl;
  }

  function init() {
    if (embedded) document.documentElement.classList.add('embedded');
    if (only) document.documentElement.classList.add('single');
    fillSnippet();
    var container = document.getElementById('clients');
    if (only) {
      if (!embedded) {
        var back = new URLSearchParams();
        ['renderer', 'proxy', 'domain'].forEach(function (k) {
          if (query.get(k) !== null) back.set(k, query.get(k));
        });
        var q = back.toString();
        container.parentNode.insertBefore(
          el('p', { class: 'only-note' }, ['This page shows only the ' + DEFAULTS[only].title + ' client. ', el('a', { href: '/' + (q ? '?' + q : ''), text: 'Show both.' })]),
          container,
        );
      }
      var c = buildClient(container, only);
      load(c, c.settings.autologin);
    } else {
      buildFrames(container);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
