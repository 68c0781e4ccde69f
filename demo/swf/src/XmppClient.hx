import StreamSplitter.StreamChunk;
import Transport.RawSocketTransport;
import Transport.XmlSocketTransport;
import haxe.crypto.Base64;
import haxe.io.BytesBuffer;

enum LoginState {
	Idle;
	Connecting;
	AwaitHeader;
	LegacyAuth;
	AwaitFeatures;
	Sasl;
	AwaitRestartHeader;
	AwaitBindFeatures;
	Binding;
	Online;
}

/**
 * A small XMPP client the way Flash clients were written:
 * - `xmlsocket`: XMLSocket (NUL mode), a `<flash:stream>` header and legacy `jabber:iq:auth`
 *   sent right after the server's header, without waiting for features (XIFF 3 betas);
 * - `socket`: flash.net.Socket (raw mode), the standard header, SASL PLAIN, stream restart,
 *   resource bind and the session iq (SparkWeb, XIFF 3.0+).
 * Then the roster, presence, chat and MUC. Everything that happens is reported through onEvent.
 */
class XmppClient {
	public static inline var NS_CLIENT = "jabber:client";
	public static inline var NS_STREAM = "http://etherx.jabber.org/streams";
	public static inline var NS_FLASH = "http://www.jabber.com/streams/flash";
	public static inline var NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
	public static inline var NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";
	public static inline var NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session";
	public static inline var NS_IQ_AUTH = "jabber:iq:auth";
	public static inline var NS_ROSTER = "jabber:iq:roster";
	public static inline var NS_MUC = "http://jabber.org/protocol/muc";
	public static inline var NS_MUC_USER = "http://jabber.org/protocol/muc#user";
	public static inline var NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
	public static inline var NS_PING = "urn:xmpp:ping";

	static inline var LOGIN_TIMEOUT_MS = 30000;

	/** (type, data): status, connected, loggedIn, loginFailed, roster, presence, message, joined, groupchat, streamError, disconnected. */
	public var onEvent:String->Dynamic->Void;

	public var transportName(default, null):String;
	public var host(default, null):String;
	public var port(default, null):Int;
	public var domain(default, null):String;
	public var resource(default, null):String;
	public var user(default, null):String = "";
	public var jid(default, null):String = "";

	var password = "";
	var transport:Transport;
	var state = Idle;
	var headerSeen = false;
	var loginReported = false;
	var streamErrorCondition:String = null;
	var streamErrorText = "";
	var nextId = 0;
	var handlers = new Map<String, Xml->Void>();
	var rooms = new Map<String, String>();
	var joinedRooms = new Map<String, Bool>();
	var rosterOrder:Array<String> = [];
	var rosterNames = new Map<String, String>();
	var rosterSubscriptions = new Map<String, String>();
	var subscribeSent = new Map<String, Bool>();
	var loginTimer:haxe.Timer;

	public function new(transportName:String, host:String, port:Int, domain:String, resource:String) {
		this.transportName = transportName == "socket" ? "socket" : "xmlsocket";
		this.host = host;
		this.port = port;
		this.domain = domain;
		this.resource = resource;
	}

	public function isOnline():Bool {
		return state == Online;
	}

	public function isActive():Bool {
		return state != Idle;
	}

	// ---------------------------------------------------------------- public API

	public function login(user:String, password:String):Void {
		if (state != Idle)
			finish("Reconnecting", false);
		this.user = user == null ? "" : StringTools.trim(user);
		this.password = password == null ? "" : password;
		jid = "";
		headerSeen = false;
		loginReported = false;
		streamErrorCondition = null;
		streamErrorText = "";
		handlers = new Map();
		rooms = new Map();
		joinedRooms = new Map();
		rosterOrder = [];
		rosterNames = new Map();
		rosterSubscriptions = new Map();
		subscribeSent = new Map();
		if (this.user == "" || this.password == "") {
			loginFailed("bad-request", "enter a user name and a password");
			return;
		}
		var t:Transport = transportName == "socket" ? new RawSocketTransport() : new XmlSocketTransport();
		transport = t;
		t.onOpen = function() if (t == transport) opened();
		t.onChunk = function(chunk) if (t == transport) received(chunk);
		t.onClose = function(reason) if (t == transport) finish(reason != null ? "Connection lost: " + reason : headerSeen ? "Connection closed by the server" : "Connection closed before the server answered", true);
		state = Connecting;
		status('Connecting to $host:$port ($transportName)…');
		loginTimer = haxe.Timer.delay(function() {
			if (t == transport && state != Online && state != Idle)
				finish("No answer from the server within " + Std.int(LOGIN_TIMEOUT_MS / 1000) + " s", true);
		}, LOGIN_TIMEOUT_MS);
		try {
			t.connect(host, port);
		} catch (e:Dynamic) {
			finish("Cannot connect: " + Std.string(e), true);
		}
	}

	public function logout():Void {
		if (state == Idle)
			return;
		if (transport != null) {
			if (state == Online)
				send('<presence type="unavailable"/>');
			send(transportName == "socket" ? "</stream:stream>" : "</flash:stream>");
		}
		finish("Logged out", false);
	}

	public function sendChat(to:String, body:String):Bool {
		to = to == null ? "" : StringTools.trim(to);
		if (state != Online || to == "" || body == null || body == "")
			return false;
		send('<message type="chat" to="${esc(to)}" id="${newId("m")}"><body>${esc(body)}</body></message>');
		return true;
	}

	/** Joins a room; the `joined` event follows when the room sends our own presence back. */
	public function joinRoom(room:String, nick:String):Bool {
		room = room == null ? "" : bare(StringTools.trim(room));
		nick = nick == null || StringTools.trim(nick) == "" ? user : StringTools.trim(nick);
		if (state != Online || room == "" || nick == "")
			return false;
		rooms.set(room, nick);
		joinedRooms.remove(room);
		send('<presence to="${esc(room + "/" + nick)}"><x xmlns="$NS_MUC"/></presence>');
		return true;
	}

	public function sendGroupchat(room:String, body:String):Bool {
		room = room == null ? "" : bare(StringTools.trim(room));
		if (state != Online || room == "" || body == null || body == "")
			return false;
		send('<message type="groupchat" to="${esc(room)}" id="${newId("g")}"><body>${esc(body)}</body></message>');
		return true;
	}

	/** Puts a contact on the roster and asks to see its presence (the other side approves). */
	public function addContact(contact:String):Bool {
		contact = contact == null ? "" : bare(StringTools.trim(contact));
		if (state != Online || contact == "" || contact == bare(jid))
			return false;
		iqSend("set", null, '<query xmlns="$NS_ROSTER"><item jid="${esc(contact)}"/></query>', function(_) {});
		subscribeSent.set(contact, true);
		send('<presence to="${esc(contact)}" type="subscribe"/>');
		return true;
	}

	public function nickIn(room:String):String {
		return rooms.get(bare(room));
	}

	// ---------------------------------------------------------------- stream

	function opened():Void {
		if (state != Connecting)
			return;
		state = AwaitHeader;
		status("Socket open, waiting for the server's stream header…");
		sendHeader();
	}

	function sendHeader():Void {
		if (transportName == "socket")
			send('<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns="$NS_CLIENT" xmlns:stream="$NS_STREAM" to="${esc(domain)}" xml:lang="en" version="1.0">');
		else
			send('<?xml version="1.0"?><flash:stream to="${esc(host)}" xmlns="$NS_CLIENT" xmlns:flash="$NS_FLASH" version="1.0">');
	}

	function received(chunk:StreamChunk):Void {
		switch (chunk) {
			case Header(_):
				if (!headerSeen) {
					headerSeen = true;
					emit("connected", {});
				}
				if (state == Connecting) // the header can come before the socket's connect event
					state = AwaitHeader;
				if (state == AwaitHeader) {
					if (transportName == "socket") {
						state = AwaitFeatures;
						status("Connected, waiting for stream features…");
					} else {
						startLegacyAuth();
					}
				} else if (state == AwaitRestartHeader) {
					state = AwaitBindFeatures;
				}
			case End:
				finish(streamErrorCondition != null ? null : "The server closed the stream", true);
			case Element(xml):
				var el:Xml = null;
				try {
					el = Xml.parse(xml).firstElement();
				} catch (e:Dynamic) {
					status("Unparsable XML from the server: " + Std.string(e));
					return;
				}
				if (el != null)
					handle(el);
		}
	}

	function handle(el:Xml):Void {
		switch (local(el)) {
			case "error":
				streamError(el);
			case "features":
				features(el);
			case "success":
				if (state == Sasl) {
					state = AwaitRestartHeader;
					status("Authenticated, restarting the stream…");
					sendHeader();
				}
			case "failure":
				if (state == Sasl) {
					var e = errorOf(el);
					loginFailed(e.condition, e.text);
					finish(null, false);
				}
			case "iq":
				iq(el);
			case "presence":
				presence(el);
			case "message":
				message(el);
			default:
		}
	}

	function streamError(el:Xml):Void {
		var e = errorOf(el);
		streamErrorCondition = e.condition;
		streamErrorText = e.text;
		emit("streamError", {condition: e.condition, text: e.text});
		status("Stream error: " + e.condition + (e.text != "" ? " — " + e.text : ""), true);
	}

	// ---------------------------------------------------------------- login

	function startLegacyAuth():Void {
		state = LegacyAuth;
		status("Connected, logging in as " + user + " (jabber:iq:auth)…");
		iqSend("get", null, '<query xmlns="$NS_IQ_AUTH"><username>${esc(user)}</username></query>', function(res) {
			if (res.get("type") == "error") {
				legacyFailed(res);
				return;
			}
			var set = '<query xmlns="$NS_IQ_AUTH"><username>${esc(user)}</username><password>${esc(password)}</password><resource>${esc(resource)}</resource></query>';
			iqSend("set", null, set, function(done) {
				if (done.get("type") == "error") {
					legacyFailed(done);
					return;
				}
				jid = user + "@" + domain + "/" + resource;
				online();
			});
		});
	}

	function legacyFailed(res:Xml):Void {
		var e = errorOf(child(res, "error"));
		loginFailed(e.condition, e.text);
		finish(null, false);
	}

	function features(el:Xml):Void {
		if (state == AwaitFeatures) {
			var mechanisms:Array<String> = [];
			var m = child(el, "mechanisms");
			if (m != null)
				for (mech in m.elements())
					mechanisms.push(StringTools.trim(textOf(mech)));
			if (mechanisms.indexOf("PLAIN") >= 0) {
				state = Sasl;
				status("Logging in as " + user + " (SASL PLAIN)…");
				send('<auth xmlns="$NS_SASL" mechanism="PLAIN">${plain(user, password)}</auth>');
			} else if (child(el, "auth") != null) {
				startLegacyAuth();
			} else {
				loginFailed("invalid-mechanism", "the server offers no PLAIN login (offered: " + (mechanisms.length > 0 ? mechanisms.join(", ") : "none") + ")");
				finish(null, false);
			}
		} else if (state == AwaitBindFeatures) {
			state = Binding;
			iqSend("set", null, '<bind xmlns="$NS_BIND"><resource>${esc(resource)}</resource></bind>', function(res) {
				if (res.get("type") == "error") {
					var e = errorOf(child(res, "error"));
					loginFailed(e.condition, e.text);
					finish(null, false);
					return;
				}
				var b = child(res, "bind");
				var j = b != null ? child(b, "jid") : null;
				jid = j != null ? StringTools.trim(textOf(j)) : user + "@" + domain + "/" + resource;
				// XIFF always sends the session iq and reports the login only on its answer.
				iqSend("set", null, '<session xmlns="$NS_SESSION"/>', function(_) online());
			});
		}
	}

	static function plain(user:String, password:String):String {
		var b = new BytesBuffer();
		b.addByte(0);
		b.addString(user);
		b.addByte(0);
		b.addString(password);
		return Base64.encode(b.getBytes());
	}

	function online():Void {
		state = Online;
		loginReported = true;
		stopTimer();
		emit("loggedIn", {jid: jid});
		status("Logged in as " + jid);
		iqSend("get", null, '<query xmlns="$NS_ROSTER"/>', function(res) {
			if (res.get("type") == "result") {
				var q = child(res, "query");
				if (q != null)
					for (item in q.elements())
						if (local(item) == "item")
							rosterItem(item);
				emitRoster();
			}
			send("<presence/>");
		});
	}

	function loginFailed(condition:String, text:String):Void {
		loginReported = true;
		emit("loginFailed", {condition: condition, text: text});
		status("Login failed: " + condition + (text != null && text != "" ? " — " + text : ""), true);
	}

	/** Ends the connection. `unexpected`: the server or the network ended it. `reason` null: keep the status line as it is. */
	function finish(reason:String, unexpected:Bool):Void {
		if (state == Idle)
			return;
		var wasOnline = state == Online;
		var t = transport;
		transport = null;
		state = Idle;
		stopTimer();
		if (t != null)
			t.close();
		var failedNow = unexpected && !wasOnline && !loginReported;
		if (failedNow) {
			if (streamErrorCondition != null)
				loginFailed(streamErrorCondition, streamErrorText);
			else
				loginFailed(headerSeen ? "connection-closed" : "connection-failed", reason);
		}
		emit("disconnected", {});
		if (reason != null && !failedNow && streamErrorCondition == null)
			status(reason, unexpected);
	}

	function stopTimer():Void {
		if (loginTimer != null) {
			loginTimer.stop();
			loginTimer = null;
		}
	}

	// ---------------------------------------------------------------- stanzas

	function iq(el:Xml):Void {
		var type = el.get("type");
		var id = el.get("id");
		if (type == "result" || type == "error") {
			var h = id != null ? handlers.get(id) : null;
			if (h != null) {
				handlers.remove(id);
				h(el);
			}
			return;
		}
		var from = el.get("from");
		var q = el.firstElement();
		var ns = q != null ? q.get("xmlns") : null;
		if (type == "set" && ns == NS_ROSTER && (from == null || from == bare(jid) || from == domain)) {
			for (item in q.elements())
				if (local(item) == "item")
					rosterItem(item);
			emitRoster();
			reply(el, "");
		} else if (type == "get" && ns == NS_PING) {
			reply(el, "");
		} else if (type == "get" || type == "set") {
			send('<iq type="error"${attr("to", from)}${attr("id", id)}><error type="cancel"><service-unavailable xmlns="$NS_STANZAS"/></error></iq>');
		}
	}

	function reply(request:Xml, content:String):Void {
		send('<iq type="result"${attr("to", request.get("from"))}${attr("id", request.get("id"))}' + (content == "" ? "/>" : '>$content</iq>'));
	}

	function rosterItem(item:Xml):Void {
		var j = item.get("jid");
		if (j == null || j == "")
			return;
		var subscription = item.get("subscription");
		if (subscription == "remove") {
			rosterOrder.remove(j);
			rosterNames.remove(j);
			rosterSubscriptions.remove(j);
			return;
		}
		if (!rosterNames.exists(j))
			rosterOrder.push(j);
		var name = item.get("name");
		rosterNames.set(j, name == null ? "" : name);
		rosterSubscriptions.set(j, subscription == null ? "none" : subscription);
	}

	function emitRoster():Void {
		var items:Array<Dynamic> = [];
		for (j in rosterOrder)
			items.push({jid: j, name: rosterNames.get(j), subscription: rosterSubscriptions.get(j)});
		emit("roster", {items: items});
	}

	function presence(el:Xml):Void {
		var from = el.get("from");
		if (from == null)
			from = "";
		var type = el.get("type");
		if (type == null || type == "")
			type = "available";
		var showEl = child(el, "show");
		var show = showEl != null ? StringTools.trim(textOf(showEl)) : "";
		var room = bare(from);
		if (rooms.exists(room)) {
			var nick = resourceOf(from);
			if (type == "error") {
				var e = errorOf(child(el, "error"));
				rooms.remove(room);
				joinedRooms.remove(room);
				status("Could not join " + room + ": " + e.condition + (e.text != "" ? " — " + e.text : ""), true);
			} else if (type == "available" && !joinedRooms.exists(room) && (nick == rooms.get(room) || hasStatus(el, "110"))) {
				joinedRooms.set(room, true);
				rooms.set(room, nick);
				emit("joined", {room: room, nick: nick});
			} else if (type == "unavailable" && nick == rooms.get(room) && joinedRooms.exists(room)) {
				joinedRooms.remove(room);
			}
		}
		emit("presence", {from: from, type: type, show: show});
		if (type == "subscribe" && from != "") {
			// A demo: approve every request, and ask back so that both sides see each other.
			send('<presence to="${esc(room)}" type="subscribed"/>');
			var sub = rosterSubscriptions.get(room);
			if (sub != "to" && sub != "both" && !subscribeSent.exists(room)) {
				subscribeSent.set(room, true);
				send('<presence to="${esc(room)}" type="subscribe"/>');
			}
		}
	}

	static function hasStatus(el:Xml, code:String):Bool {
		for (x in el.elements())
			if (local(x) == "x" && x.get("xmlns") == NS_MUC_USER)
				for (s in x.elements())
					if (local(s) == "status" && s.get("code") == code)
						return true;
		return false;
	}

	function message(el:Xml):Void {
		var from = el.get("from");
		if (from == null)
			from = domain;
		var type = el.get("type");
		if (type == null || type == "")
			type = "normal";
		var bodyEl = child(el, "body");
		var body = bodyEl != null ? textOf(bodyEl) : null;
		if (type == "groupchat") {
			if (body != null)
				emit("groupchat", {room: bare(from), nick: resourceOf(from), body: body});
			else if (child(el, "subject") != null && StringTools.trim(textOf(child(el, "subject"))) != "")
				emit("subject", {room: bare(from), subject: StringTools.trim(textOf(child(el, "subject")))});
		} else if (type == "error") {
			var e = errorOf(child(el, "error"));
			emit("message", {from: from, type: type, body: "error " + e.condition + (e.text != "" ? ": " + e.text : "") + (body != null ? " (" + body + ")" : "")});
		} else if (body != null) {
			emit("message", {from: from, type: type, body: body});
		}
	}

	// ---------------------------------------------------------------- helpers

	function iqSend(type:String, to:String, content:String, handler:Xml->Void):Void {
		var id = newId("iq");
		handlers.set(id, handler);
		send('<iq type="$type" id="$id"${attr("to", to)}>$content</iq>');
	}

	function send(xml:String):Void {
		if (transport != null)
			transport.send(xml);
	}

	function newId(prefix:String):String {
		nextId++;
		return "fxg" + prefix + nextId;
	}

	function status(text:String, error = false):Void {
		emit("status", {text: text, error: error});
	}

	function emit(type:String, data:Dynamic):Void {
		if (onEvent != null)
			onEvent(type, data);
	}

	static function attr(name:String, value:String):String {
		return value == null ? "" : ' $name="${esc(value)}"';
	}

	/** Escapes text and attribute values alike. */
	public static function esc(s:String):String {
		if (s == null)
			return "";
		var b = new StringBuf();
		for (i in 0...s.length) {
			var c = s.charCodeAt(i);
			switch (c) {
				case "&".code:
					b.add("&amp;");
				case "<".code:
					b.add("&lt;");
				case ">".code:
					b.add("&gt;");
				case '"'.code:
					b.add("&quot;");
				case "'".code:
					b.add("&apos;");
				default:
					// XML 1.0 forbids most control characters; NUL would end an XMLSocket packet.
					if (c >= 0x20 || c == 0x9 || c == 0xA || c == 0xD)
						b.addChar(c);
			}
		}
		return b.toString();
	}

	public static function bare(j:String):String {
		if (j == null)
			return "";
		var slash = j.indexOf("/");
		return slash < 0 ? j : j.substr(0, slash);
	}

	public static function resourceOf(j:String):String {
		if (j == null)
			return "";
		var slash = j.indexOf("/");
		return slash < 0 ? "" : j.substr(slash + 1);
	}

	static function local(el:Xml):String {
		return StreamSplitter.localName(el.nodeName);
	}

	static function child(el:Xml, name:String):Xml {
		if (el == null)
			return null;
		for (c in el.elements())
			if (local(c) == name)
				return c;
		return null;
	}

	static function textOf(el:Xml):String {
		var b = new StringBuf();
		for (c in el) {
			if (c.nodeType == Xml.PCData || c.nodeType == Xml.CData)
				b.add(c.nodeValue);
			else if (c.nodeType == Xml.Element)
				b.add(textOf(c));
		}
		return b.toString();
	}

	/** The defined condition and text of a stream error, SASL failure or stanza `<error>`. */
	static function errorOf(el:Xml):{condition:String, text:String} {
		if (el == null)
			return {condition: "undefined-condition", text: ""};
		var condition:String = null;
		var text = "";
		for (c in el.elements()) {
			if (local(c) == "text")
				text = StringTools.trim(textOf(c));
			else if (condition == null)
				condition = local(c);
		}
		if (condition == null)
			condition = el.get("code") != null ? "code-" + el.get("code") : "undefined-condition";
		if (text == "" && el.firstChild() != null && el.firstElement() == null)
			text = StringTools.trim(textOf(el));
		return {condition: condition, text: text};
	}
}
