/**
 * Cuts the text a server sends into the pieces of an XMPP stream: the stream header
 * (`<stream:stream …>` or `<flash:stream …>`, left open or self-closed), complete top-level
 * elements, and the stream's end tag. Text may arrive in any pieces (a raw socket read can hold
 * half a stanza or the header and the features together): what is not complete yet stays
 * buffered until the next push. Text between top-level elements (whitespace keepalives, a stray
 * NUL, the XML declaration, comments) is dropped.
 */
enum StreamChunk {
	Header(tag:String);
	Element(xml:String);
	End;
}

class StreamSplitter {
	var buf:String = "";

	public function new() {}

	public function reset():Void {
		buf = "";
	}

	/** Bytes (as text) waiting for the rest of an element. */
	public function pending():Int {
		return buf.length;
	}

	public function push(text:String):Array<StreamChunk> {
		buf += text;
		var out:Array<StreamChunk> = [];
		var pos = 0;
		while (true) {
			var lt = buf.indexOf("<", pos);
			if (lt < 0) {
				pos = buf.length;
				break;
			}
			pos = lt;
			if (startsAt(pos, "<?")) {
				var e = buf.indexOf("?>", pos + 2);
				if (e < 0)
					break;
				pos = e + 2;
				continue;
			}
			if (startsAt(pos, "<!--")) {
				var e = buf.indexOf("-->", pos + 4);
				if (e < 0)
					break;
				pos = e + 3;
				continue;
			}
			if (startsAt(pos, "<!")) {
				var e = buf.indexOf(">", pos + 2);
				if (e < 0)
					break;
				pos = e + 1;
				continue;
			}
			var tagEnd = findTagEnd(pos);
			if (tagEnd < 0)
				break;
			var closing = buf.charAt(pos + 1) == "/";
			var name = localName(tagName(pos + (closing ? 2 : 1)));
			if (closing) {
				if (name == "stream")
					out.push(End);
				pos = tagEnd + 1;
				continue;
			}
			if (name == "stream") {
				out.push(Header(buf.substring(pos, tagEnd + 1)));
				pos = tagEnd + 1;
				continue;
			}
			if (buf.charAt(tagEnd - 1) == "/") {
				out.push(Element(buf.substring(pos, tagEnd + 1)));
				pos = tagEnd + 1;
				continue;
			}
			var end = findElementEnd(tagEnd + 1);
			if (end < 0)
				break;
			out.push(Element(buf.substring(pos, end)));
			pos = end;
		}
		buf = buf.substr(pos);
		return out;
	}

	/**
	 * How many of the first `n` bytes of UTF-8 text form whole characters: a raw socket read may
	 * end inside a multi-byte character, whose first bytes must wait for the next read.
	 */
	public static function completeUtf8Length(byteAt:Int->Int, n:Int):Int {
		var i = n - 1;
		var back = 0;
		while (i >= 0 && back < 3 && (byteAt(i) & 0xC0) == 0x80) {
			i--;
			back++;
		}
		if (i < 0)
			return n;
		var lead = byteAt(i);
		var need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
		return n - i < need ? i : n;
	}

	/** The local part of a prefixed name: `stream:features` → `features`. */
	public static function localName(name:String):String {
		var colon = name.indexOf(":");
		return colon < 0 ? name : name.substr(colon + 1);
	}

	inline function startsAt(pos:Int, s:String):Bool {
		return buf.substr(pos, s.length) == s;
	}

	function tagName(start:Int):String {
		var i = start;
		while (i < buf.length) {
			var c = buf.charCodeAt(i);
			if (c == " ".code || c == "\t".code || c == "\r".code || c == "\n".code || c == "/".code || c == ">".code)
				break;
			i++;
		}
		return buf.substring(start, i);
	}

	/** The index of the `>` that ends the tag starting at `lt`, skipping quoted attribute values; -1 if not here yet. */
	function findTagEnd(lt:Int):Int {
		var quote = 0;
		var i = lt + 1;
		while (i < buf.length) {
			var c = buf.charCodeAt(i);
			if (quote != 0) {
				if (c == quote)
					quote = 0;
			} else if (c == '"'.code || c == "'".code) {
				quote = c;
			} else if (c == ">".code) {
				return i;
			}
			i++;
		}
		return -1;
	}

	/** The index just past the end tag closing the element whose content starts at `from`; -1 if not here yet. */
	function findElementEnd(from:Int):Int {
		var depth = 1;
		var p = from;
		while (true) {
			var lt = buf.indexOf("<", p);
			if (lt < 0)
				return -1;
			if (startsAt(lt, "<!--")) {
				var e = buf.indexOf("-->", lt + 4);
				if (e < 0)
					return -1;
				p = e + 3;
				continue;
			}
			if (startsAt(lt, "<![CDATA[")) {
				var e = buf.indexOf("]]>", lt + 9);
				if (e < 0)
					return -1;
				p = e + 3;
				continue;
			}
			if (startsAt(lt, "<?")) {
				var e = buf.indexOf("?>", lt + 2);
				if (e < 0)
					return -1;
				p = e + 2;
				continue;
			}
			var te = findTagEnd(lt);
			if (te < 0)
				return -1;
			if (buf.charAt(lt + 1) == "/")
				depth--;
			else if (buf.charAt(te - 1) != "/")
				depth++;
			p = te + 1;
			if (depth == 0)
				return p;
		}
	}
}
