import flash.display.Sprite;
import flash.events.KeyboardEvent;
import flash.events.MouseEvent;
import flash.text.TextField;
import flash.text.TextFieldAutoSize;
import flash.text.TextFieldType;
import flash.text.TextFormat;

/**
 * The demo's screen, 800×600, drawn with flash.display and flash.text only: the login row, a
 * status line, the contacts list, the one-to-one chat and the room chat. It knows nothing of
 * XMPP: the buttons and Enter keys call the on* functions Main sets.
 */
class Ui extends Sprite {
	public static inline var WIDTH = 800;
	public static inline var HEIGHT = 600;

	static inline var FONT = "_sans";
	static inline var INK = 0x1F2933;
	static inline var MUTED = 0x52606D;
	static inline var ACCENT = 0x1D4ED8;
	static inline var OWN = 0x047857;
	static inline var ERROR = 0xB91C1C;

	public var onConnect:String->String->Void;
	public var onLogout:Void->Void;
	public var onSend:String->String->Void;
	public var onJoin:String->String->Void;
	public var onSendRoom:String->String->Void;
	public var onAddContact:String->Void;

	public var userField(default, null):TextField;
	public var passwordField(default, null):TextField;
	public var toField(default, null):TextField;
	public var messageField(default, null):TextField;
	public var roomField(default, null):TextField;
	public var nickField(default, null):TextField;
	public var roomMessageField(default, null):TextField;
	public var addField(default, null):TextField;

	var statusLine:TextField;
	var chatLog:TextField;
	var roomLog:TextField;
	var contactList:Sprite;
	var contactHeader:TextField;
	var contacts:Array<String> = [];
	var contactNames = new Map<String, String>();
	var contactShow = new Map<String, String>();
	var rosterLoaded = false;

	public function new(subtitle:String) {
		super();
		graphics.beginFill(0xF5F7FA);
		graphics.drawRect(0, 0, WIDTH, HEIGHT);
		graphics.endFill();
		graphics.beginFill(0x1E3A8A);
		graphics.drawRect(0, 0, WIDTH, 32);
		graphics.endFill();

		var title = label("Flash XMPP demo chat", 12, 6, 0xFFFFFF, 15, true);
		addChild(title);
		var sub = label(subtitle, 0, 9, 0xDBEAFE, 11);
		sub.x = WIDTH - 12 - sub.width;
		addChild(sub);

		// Login row.
		addChild(label("User", 12, 45));
		userField = input(50, 42, 150);
		addChild(label("Password", 214, 45));
		passwordField = input(280, 42, 150);
		passwordField.displayAsPassword = true;
		addChild(button("Connect", 444, 41, 90, function() if (onConnect != null) onConnect(userField.text, passwordField.text)));
		addChild(button("Log out", 542, 41, 90, function() if (onLogout != null) onLogout()));
		onEnter(userField, function() stage.focus = passwordField);
		onEnter(passwordField, function() if (onConnect != null) onConnect(userField.text, passwordField.text));

		statusLine = new TextField();
		statusLine.defaultTextFormat = format(12, INK);
		statusLine.x = 10;
		statusLine.y = 74;
		statusLine.width = WIDTH - 20;
		statusLine.height = 22;
		statusLine.background = true;
		statusLine.border = true;
		statusLine.borderColor = 0xCBD2D9;
		statusLine.selectable = true;
		addChild(statusLine);
		setStatus("Not connected", false);

		// Contacts.
		panel(10, 106, 200, 484);
		contactHeader = label("Contacts", 18, 110, INK, 13, true);
		addChild(contactHeader);
		contactList = new Sprite();
		contactList.x = 14;
		contactList.y = 134;
		addChild(contactList);
		renderContacts();
		addField = input(16, 562, 120);
		addChild(button("Add", 142, 561, 62, addContact));
		onEnter(addField, addContact);
		addChild(label("Add a contact (user@domain):", 16, 540, MUTED, 11));

		// One-to-one chat.
		addChild(label("Chat", 222, 106, INK, 13, true));
		chatLog = log(220, 128, 570, 190);
		addChild(label("To", 222, 329));
		toField = input(246, 326, 190);
		messageField = input(444, 326, 262);
		addChild(button("Send", 714, 325, 76, sendChat));
		onEnter(toField, function() stage.focus = messageField);
		onEnter(messageField, sendChat);

		// Room chat.
		addChild(label("Room", 222, 365, INK, 13, true));
		roomField = input(270, 362, 250);
		addChild(label("Nick", 530, 365));
		nickField = input(564, 362, 142);
		addChild(button("Join", 714, 361, 76, joinRoom));
		onEnter(roomField, joinRoom);
		onEnter(nickField, joinRoom);
		roomLog = log(220, 394, 570, 158);
		roomMessageField = input(220, 562, 486);
		addChild(button("Send", 714, 561, 76, sendRoom));
		onEnter(roomMessageField, sendRoom);
	}

	function addContact():Void {
		if (onAddContact != null)
			onAddContact(addField.text);
	}

	function sendChat():Void {
		if (onSend != null)
			onSend(toField.text, messageField.text);
	}

	function joinRoom():Void {
		if (onJoin != null)
			onJoin(roomField.text, nickField.text);
	}

	function sendRoom():Void {
		if (onSendRoom != null)
			onSendRoom(roomField.text, roomMessageField.text);
	}

	// ---------------------------------------------------------------- what Main calls

	public function setStatus(text:String, error:Bool, ok = false):Void {
		statusLine.text = " " + text;
		statusLine.textColor = error ? ERROR : INK;
		statusLine.backgroundColor = error ? 0xFEE2E2 : ok ? 0xDCFCE7 : 0xFFFBEB;
	}

	public function chatLine(who:String, text:String, kind:String):Void {
		append(chatLog, who, text, kind);
	}

	public function roomLine(who:String, text:String, kind:String):Void {
		append(roomLog, who, text, kind);
	}

	public function setRoster(items:Array<Dynamic>):Void {
		rosterLoaded = true;
		var keep = new Map<String, Bool>();
		for (item in items) {
			var j:String = item.jid;
			keep.set(j, true);
			contactNames.set(j, item.name);
			if (contacts.indexOf(j) < 0)
				contacts.push(j);
		}
		contacts = contacts.filter(function(j) return keep.exists(j) || contactShow.exists(j));
		renderContacts();
	}

	/** show: "" (available), away, xa, dnd, chat; null: unavailable. */
	public function setPresence(bareJid:String, show:String):Void {
		if (show == null)
			contactShow.remove(bareJid);
		else
			contactShow.set(bareJid, show);
		if (contacts.indexOf(bareJid) < 0)
			contacts.push(bareJid);
		renderContacts();
	}

	public function clearContacts():Void {
		contacts = [];
		contactNames = new Map();
		contactShow = new Map();
		rosterLoaded = false;
		renderContacts();
	}

	// ---------------------------------------------------------------- drawing

	function renderContacts():Void {
		while (contactList.numChildren > 0)
			contactList.removeChildAt(0);
		var online = 0;
		for (j in contacts)
			if (contactShow.exists(j))
				online++;
		contactHeader.text = contacts.length == 0 ? "Contacts" : 'Contacts ($online/${contacts.length} online)';
		if (contacts.length == 0) {
			contactList.addChild(label(rosterLoaded ? "(none yet: add one below)" : "(log in to see them)", 4, 0, MUTED, 12));
			return;
		}
		var y = 0;
		for (j in contacts) {
			if (y > 380)
				break;
			contactList.addChild(contactRow(j, y));
			y += 24;
		}
	}

	function contactRow(j:String, y:Int):Sprite {
		var row = new Sprite();
		row.y = y;
		var show = contactShow.get(j);
		var available = contactShow.exists(j);
		row.graphics.beginFill(0xFFFFFF, 0.01);
		row.graphics.drawRect(0, 0, 192, 22);
		row.graphics.endFill();
		row.graphics.beginFill(!available ? 0x9AA5B1 : (show == "" || show == "chat") ? 0x16A34A : show == "dnd" ? 0xDC2626 : 0xF59E0B);
		row.graphics.drawCircle(8, 11, 5);
		row.graphics.endFill();
		var name = contactNames.get(j);
		var text = (name != null && name != "" ? name + " <" + j + ">" : j) + (available && show != "" ? " (" + show + ")" : available ? "" : " — offline");
		var t = label(text, 18, 2, available ? INK : MUTED, 12);
		t.width = 172;
		t.autoSize = TextFieldAutoSize.NONE;
		t.height = 20;
		row.addChild(t);
		row.buttonMode = true;
		row.useHandCursor = true;
		row.mouseChildren = false;
		row.addEventListener(MouseEvent.CLICK, function(_) {
			toField.text = j;
			if (stage != null)
				stage.focus = messageField;
		});
		return row;
	}

	function append(field:TextField, who:String, text:String, kind:String):Void {
		var now = Date.now();
		var stamp = "[" + two(now.getHours()) + ":" + two(now.getMinutes()) + "] ";
		var head = stamp + (who != null && who != "" ? who + ": " : "");
		if (field.length > 0)
			field.appendText("\n");
		var start = field.length;
		field.appendText(head + text);
		var color = switch (kind) {
			case "own": OWN;
			case "error": ERROR;
			case "info": MUTED;
			default: ACCENT;
		}
		field.setTextFormat(format(12, color, kind != "info"), start, start + head.length);
		if (kind == "error" || kind == "info")
			field.setTextFormat(format(12, color), start + head.length, field.length);
		field.scrollV = field.maxScrollV;
	}

	static function two(n:Int):String {
		return n < 10 ? "0" + n : "" + n;
	}

	function panel(x:Float, y:Float, w:Float, h:Float):Void {
		graphics.lineStyle(1, 0xCBD2D9);
		graphics.beginFill(0xFFFFFF);
		graphics.drawRect(x, y, w, h);
		graphics.endFill();
		graphics.lineStyle();
	}

	function log(x:Float, y:Float, w:Float, h:Float):TextField {
		var t = new TextField();
		t.defaultTextFormat = format(12, INK);
		t.x = x;
		t.y = y;
		t.width = w;
		t.height = h;
		t.multiline = true;
		t.wordWrap = true;
		t.border = true;
		t.borderColor = 0xCBD2D9;
		t.background = true;
		t.backgroundColor = 0xFFFFFF;
		t.selectable = true;
		addChild(t);
		return t;
	}

	function input(x:Float, y:Float, w:Float):TextField {
		var t = new TextField();
		t.type = TextFieldType.INPUT;
		t.defaultTextFormat = format(13, INK);
		t.x = x;
		t.y = y;
		t.width = w;
		t.height = 22;
		t.border = true;
		t.borderColor = 0x9AA5B1;
		t.background = true;
		t.backgroundColor = 0xFFFFFF;
		t.multiline = false;
		addChild(t);
		return t;
	}

	function onEnter(field:TextField, action:Void->Void):Void {
		field.addEventListener(KeyboardEvent.KEY_DOWN, function(e:KeyboardEvent) {
			if (e.keyCode == 13)
				action();
		});
	}

	function button(text:String, x:Float, y:Float, w:Float, action:Void->Void):Sprite {
		var b = new Sprite();
		b.x = x;
		b.y = y;
		var face = function(color:Int) {
			b.graphics.clear();
			b.graphics.lineStyle(1, 0x1E3A8A);
			b.graphics.beginFill(color);
			b.graphics.drawRoundRect(0, 0, w, 24, 8, 8);
			b.graphics.endFill();
		};
		face(0x2563EB);
		var t = label(text, 0, 3, 0xFFFFFF, 13, true);
		t.x = (w - t.width) / 2;
		b.addChild(t);
		b.buttonMode = true;
		b.useHandCursor = true;
		b.mouseChildren = false;
		b.addEventListener(MouseEvent.MOUSE_OVER, function(_) face(0x1D4ED8));
		b.addEventListener(MouseEvent.MOUSE_OUT, function(_) face(0x2563EB));
		b.addEventListener(MouseEvent.CLICK, function(_) action());
		return b;
	}

	static function format(size:Int, color:Int, bold = false):TextFormat {
		return new TextFormat(FONT, size, color, bold);
	}

	static function label(text:String, x:Float, y:Float, color = INK, size = 12, bold = false):TextField {
		var t = new TextField();
		t.defaultTextFormat = format(size, color, bold);
		t.selectable = false;
		t.autoSize = TextFieldAutoSize.LEFT;
		t.text = text;
		t.x = x;
		t.y = y;
		return t;
	}
}
