import flash.Lib;
import flash.external.ExternalInterface;

/**
 * The demo chat SWF of flash-xmpp-gateway. Reads its FlashVars, builds the screen (Ui), runs
 * an XmppClient over XMLSocket or flash.net.Socket, and reports every event to the page's
 * `fxgDemoEvent(type, data)` through ExternalInterface, which can also drive it (login,
 * sendChat, joinRoom, sendGroupchat, logout).
 */
class Main {
	static var app:Main;

	var client:XmppClient;
	var ui:Ui;
	var external = false;
	var nickFromUser:Bool;
	var roomOccupants = new Map<String, Map<String, Bool>>();
	var contactResources = new Map<String, Map<String, String>>();

	static function main() {
		app = new Main();
	}

	function new() {
		var root = Lib.current;
		var params:Dynamic = root.loaderInfo.parameters;
		var transport = param(params, "transport", "xmlsocket").toLowerCase() == "socket" ? "socket" : "xmlsocket";
		var host = param(params, "host", "localhost");
		var port = Std.parseInt(param(params, "port", "5222"));
		if (port == null || port <= 0 || port > 65535)
			port = 5222;
		var domain = param(params, "domain", "localhost");
		var user = param(params, "user", "");
		var password = param(params, "password", "");
		var resource = param(params, "resource", "demo");
		var room = param(params, "room", "lobby@conference." + domain);
		var nick = param(params, "nick", "");
		nickFromUser = nick == "";

		client = new XmppClient(transport, host, port, domain, resource);
		client.onEvent = onClientEvent;

		ui = new Ui('$transport · $host:$port · $domain');
		root.addChild(ui);
		ui.userField.text = user;
		ui.passwordField.text = password;
		ui.roomField.text = room;
		ui.nickField.text = nickFromUser ? user : nick;
		ui.onConnect = function(u, p) login(u, p);
		ui.onLogout = logout;
		ui.onSend = function(to, body) if (sendChat(to, body)) ui.messageField.text = "";
		ui.onJoin = function(r, n) joinRoom(r, n);
		ui.onSendRoom = function(r, body) if (sendGroupchat(r, body)) ui.roomMessageField.text = "";
		ui.onAddContact = function(j) if (addContact(j)) ui.addField.text = "";

		setUpExternal();
		report("ready", {transport: transport, host: host, port: port, domain: domain, external: external});

		if (param(params, "autologin", "") == "1")
			login(user, password);
		else if (root.stage != null)
			root.stage.focus = user == "" ? ui.userField : ui.passwordField;
	}

	static function param(params:Dynamic, name:String, fallback:String):String {
		var v:Dynamic = params != null ? Reflect.field(params, name) : null;
		if (v == null)
			return fallback;
		var s = StringTools.trim(Std.string(v));
		return s == "" ? fallback : s;
	}

	// ---------------------------------------------------------------- actions (buttons and JS alike)

	function login(user:String, password:String):Void {
		user = user == null ? "" : StringTools.trim(user);
		password = password == null ? "" : password;
		ui.userField.text = user;
		ui.passwordField.text = password;
		if (nickFromUser)
			ui.nickField.text = user;
		roomOccupants = new Map();
		contactResources = new Map();
		client.login(user, password);
	}

	function logout():Void {
		client.logout();
	}

	function sendChat(to:String, body:String):Bool {
		if (!client.isOnline()) {
			ui.setStatus("Log in first", true);
			return false;
		}
		to = to == null ? "" : StringTools.trim(to);
		if (to == "" || body == null || body == "") {
			ui.setStatus("Enter a recipient (user@" + client.domain + ") and a message", true);
			return false;
		}
		if (to.indexOf("@") < 0 && to.indexOf(".") < 0)
			to = to + "@" + client.domain;
		var sent = client.sendChat(to, body);
		if (sent) {
			ui.toField.text = to;
			ui.chatLine("me to " + to, body, "own");
		}
		return sent;
	}

	function addContact(contact:String):Bool {
		if (!client.isOnline()) {
			ui.setStatus("Log in first", true);
			return false;
		}
		contact = contact == null ? "" : StringTools.trim(contact);
		if (contact != "" && contact.indexOf("@") < 0)
			contact = contact + "@" + client.domain;
		var ok = client.addContact(contact);
		if (ok)
			ui.chatLine("", "Asked " + contact + " to share presence", "info");
		else
			ui.setStatus("Enter a contact (user@" + client.domain + ")", true);
		return ok;
	}

	function joinRoom(room:String, nick:String):Bool {
		if (!client.isOnline()) {
			ui.setStatus("Log in first", true);
			return false;
		}
		room = room == null ? "" : StringTools.trim(room);
		if (room == "") {
			ui.setStatus("Enter a room (name@conference." + client.domain + ")", true);
			return false;
		}
		if (room.indexOf("@") < 0)
			room = room + "@conference." + client.domain;
		nick = nick == null || StringTools.trim(nick) == "" ? client.user : StringTools.trim(nick);
		ui.roomField.text = room;
		ui.nickField.text = nick;
		var ok = client.joinRoom(room, nick);
		if (ok)
			ui.roomLine("", "Joining " + room + " as " + nick + "…", "info");
		return ok;
	}

	function sendGroupchat(room:String, body:String):Bool {
		if (!client.isOnline()) {
			ui.setStatus("Log in first", true);
			return false;
		}
		room = room == null ? "" : StringTools.trim(room);
		if (room.indexOf("@") < 0 && room != "")
			room = room + "@conference." + client.domain;
		if (room == "" || body == null || body == "")
			return false;
		if (client.nickIn(room) == null) {
			ui.setStatus("Join " + room + " first", true);
			return false;
		}
		return client.sendGroupchat(room, body);
	}

	// ---------------------------------------------------------------- events

	function onClientEvent(type:String, data:Dynamic):Void {
		try {
			show(type, data);
		} catch (e:Dynamic) {
			ui.setStatus("UI error: " + Std.string(e), true);
		}
		report(type, data);
	}

	function show(type:String, data:Dynamic):Void {
		switch (type) {
			case "status":
				ui.setStatus(data.text, data.error == true, client.isOnline() && data.error != true);
			case "loggedIn":
				ui.chatLine("", "Logged in as " + data.jid, "info");
			case "roster":
				ui.setRoster(data.items);
			case "presence":
				var from:String = data.from;
				var bare = XmppClient.bare(from);
				var ptype:String = data.type;
				if (client.nickIn(bare) != null) {
					occupant(bare, XmppClient.resourceOf(from), ptype);
				} else if (bare == XmppClient.bare(client.jid)) {
					// our own resources
				} else if (ptype == "available" || ptype == "unavailable") {
					contactPresence(bare, XmppClient.resourceOf(from), ptype == "available" ? data.show : null);
				} else if (ptype == "subscribe") {
					ui.chatLine("", bare + " added you (approved automatically)", "info");
				} else if (ptype == "error") {
					ui.chatLine("", "presence error from " + from, "error");
				}
			case "message":
				var from:String = data.from;
				ui.chatLine(from, data.body, data.type == "error" ? "error" : "in");
				if (data.type != "error")
					ui.toField.text = XmppClient.bare(from);
			case "subject":
				ui.roomLine("", "Subject of " + data.room + ": " + data.subject, "info");
			case "joined":
				ui.roomField.text = data.room;
				ui.roomLine("", "Joined " + data.room + " as " + data.nick, "info");
			case "groupchat":
				var room:String = data.room;
				var nick:String = data.nick;
				var prefix = room == StringTools.trim(ui.roomField.text) ? "" : "[" + room.split("@")[0] + "] ";
				ui.roomLine(prefix + (nick == "" ? room : nick), data.body, nick == client.nickIn(room) ? "own" : "in");
			case "loginFailed":
				ui.chatLine("", "Login failed: " + data.condition + (data.text != null && data.text != "" ? " — " + data.text : ""), "error");
			case "streamError":
				ui.chatLine("", "Stream error: " + data.condition + (data.text != "" ? " — " + data.text : ""), "error");
			case "disconnected":
				ui.clearContacts();
				ui.chatLine("", "Disconnected", "info");
				roomOccupants = new Map();
				contactResources = new Map();
			default:
		}
	}

	/** A contact is available while any of its resources is; the list shows the last show seen. */
	function contactPresence(bare:String, resource:String, show:String):Void {
		var resources = contactResources.get(bare);
		if (resources == null) {
			resources = new Map();
			contactResources.set(bare, resources);
		}
		if (show == null) {
			if (resource == "")
				resources.clear();
			else
				resources.remove(resource);
		} else {
			resources.set(resource, show);
		}
		var current:String = show;
		if (current == null)
			for (r in resources)
				current = r;
		ui.setPresence(bare, current);
	}

	function occupant(room:String, nick:String, ptype:String):Void {
		var set = roomOccupants.get(room);
		if (set == null) {
			set = new Map();
			roomOccupants.set(room, set);
		}
		if (ptype == "available" && !set.exists(nick)) {
			set.set(nick, true);
			if (nick != client.nickIn(room))
				ui.roomLine("", nick + " is in the room", "info");
		} else if (ptype == "unavailable" && set.exists(nick)) {
			set.remove(nick);
			ui.roomLine("", nick + " left", "info");
		}
	}

	// ---------------------------------------------------------------- ExternalInterface

	function setUpExternal():Void {
		try {
			if (!ExternalInterface.available)
				return;
			ExternalInterface.addCallback("login", function(?user:String, ?password:String) guard(function() {
				login(user, password);
				return true;
			}));
			ExternalInterface.addCallback("sendChat", function(?to:String, ?body:String) return guard(function() return sendChat(to, body)));
			ExternalInterface.addCallback("joinRoom", function(?room:String, ?nick:String) return guard(function() return joinRoom(room, nick)));
			ExternalInterface.addCallback("sendGroupchat", function(?room:String, ?body:String) return guard(function() return sendGroupchat(room, body)));
			ExternalInterface.addCallback("addContact", function(?contact:String) return guard(function() return addContact(contact)));
			ExternalInterface.addCallback("logout", function() guard(function() {
				logout();
				return true;
			}));
			external = true;
		} catch (e:Dynamic) {
			external = false;
		}
	}

	function guard(action:Void->Bool):Bool {
		try {
			return action();
		} catch (e:Dynamic) {
			ui.setStatus("Error: " + Std.string(e), true);
			return false;
		}
	}

	function report(type:String, data:Dynamic):Void {
		if (!external)
			return;
		try {
			ExternalInterface.call("fxgDemoEvent", type, data);
		} catch (_:Dynamic) {}
	}
}
