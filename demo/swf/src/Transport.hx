import StreamSplitter.StreamChunk;
import flash.events.DataEvent;
import flash.events.Event;
import flash.events.IOErrorEvent;
import flash.events.ProgressEvent;
import flash.events.SecurityErrorEvent;
import flash.net.Socket;
import flash.net.XMLSocket;
import flash.utils.ByteArray;

/**
 * The two ways a Flash client talks to an XMPP server. Both report the socket's `connect` event
 * (under Ruffle it comes before the WebSocket behind it is open, so it proves nothing), every
 * piece of the server's stream, and the end of the connection.
 */
class Transport {
	public var onOpen:Void->Void;
	public var onChunk:StreamChunk->Void;
	public var onClose:String->Void;

	var splitter = new StreamSplitter();
	var closed = false;

	function new() {}

	public function connect(host:String, port:Int):Void {}

	public function send(xml:String):Void {}

	/** Closes from our side; no onClose follows. */
	public function close():Void {}

	/** `nul` for XMLSocket (every packet ends in a NUL), `raw` for flash.net.Socket. */
	public function framing():String {
		return "";
	}

	function deliver(text:String):Void {
		if (closed)
			return;
		for (chunk in splitter.push(text)) {
			if (closed)
				return;
			if (onChunk != null)
				onChunk(chunk);
		}
	}

	function opened(_:Event):Void {
		if (!closed && onOpen != null)
			onOpen();
	}

	function ended(reason:String):Void {
		if (closed)
			return;
		closed = true;
		if (onClose != null)
			onClose(reason);
	}

	function onSocketClose(_:Event):Void {
		ended(null);
	}

	function onIoError(e:IOErrorEvent):Void {
		ended("I/O error: " + e.text);
	}

	function onSecurityError(e:SecurityErrorEvent):Void {
		ended("security error: " + e.text);
	}
}

/** flash.net.XMLSocket: every send() appends a NUL; the server's data arrives one NUL-terminated packet at a time. */
class XmlSocketTransport extends Transport {
	var socket:XMLSocket;

	public function new() {
		super();
	}

	override public function connect(host:String, port:Int):Void {
		socket = new XMLSocket();
		socket.addEventListener(Event.CONNECT, opened);
		socket.addEventListener(Event.CLOSE, onSocketClose);
		socket.addEventListener(IOErrorEvent.IO_ERROR, onIoError);
		socket.addEventListener(SecurityErrorEvent.SECURITY_ERROR, onSecurityError);
		socket.addEventListener(DataEvent.DATA, onData);
		socket.connect(host, port);
	}

	function onData(e:DataEvent):Void {
		deliver(e.data);
	}

	override public function send(xml:String):Void {
		if (!closed && socket != null)
			socket.send(xml);
	}

	override public function close():Void {
		closed = true;
		if (socket != null) {
			try {
				socket.close();
			} catch (_:Dynamic) {}
		}
	}

	override public function framing():String {
		return "nul";
	}
}

/** flash.net.Socket: no NULs at all; bytes come in arbitrary reads, possibly cutting a UTF-8 character. */
class RawSocketTransport extends Transport {
	var socket:Socket;
	var pendingBytes = new ByteArray();

	public function new() {
		super();
	}

	override public function connect(host:String, port:Int):Void {
		socket = new Socket();
		socket.addEventListener(Event.CONNECT, opened);
		socket.addEventListener(Event.CLOSE, onSocketClose);
		socket.addEventListener(IOErrorEvent.IO_ERROR, onIoError);
		socket.addEventListener(SecurityErrorEvent.SECURITY_ERROR, onSecurityError);
		socket.addEventListener(ProgressEvent.SOCKET_DATA, onData);
		socket.connect(host, port);
	}

	function onData(_:ProgressEvent):Void {
		if (socket.bytesAvailable > 0)
			socket.readBytes(pendingBytes, pendingBytes.length, socket.bytesAvailable);
		deliver(takeCompleteText());
	}

	/** Decodes the buffered bytes up to the last complete UTF-8 character; keeps the rest. */
	function takeCompleteText():String {
		var n:Int = pendingBytes.length;
		var bytes = pendingBytes;
		var cut = StreamSplitter.completeUtf8Length(function(i) return bytes[i], n);
		pendingBytes.position = 0;
		var text = cut > 0 ? pendingBytes.readUTFBytes(cut) : "";
		var rest = new ByteArray();
		if (cut < n)
			pendingBytes.readBytes(rest, 0, n - cut);
		pendingBytes = rest;
		return text;
	}

	override public function send(xml:String):Void {
		if (closed || socket == null)
			return;
		try {
			socket.writeUTFBytes(xml);
			socket.flush();
		} catch (e:Dynamic) {
			ended("write failed: " + Std.string(e));
		}
	}

	override public function close():Void {
		closed = true;
		if (socket != null) {
			try {
				socket.close();
			} catch (_:Dynamic) {}
		}
	}

	override public function framing():String {
		return "raw";
	}
}
