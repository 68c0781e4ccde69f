import StreamSplitter.StreamChunk;

/**
 * Checks StreamSplitter without Flash: `haxe --class-path demo/swf/src --main SplitterTest --interp`
 * (from the repository root). Feeds sample server streams cut at every position and in one
 * piece, and expects the same pieces each time.
 */
class SplitterTest {
	static var failures = 0;

	static function main() {
		// Raw mode: header and features in one read, stanzas with quotes, '>' in attributes,
		// comments, CDATA, whitespace keepalives, multi-byte text, then the end of the stream.
		var raw = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id=\"a>b\" from='localhost' version='1.0'>"
			+ "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
			+ " \n<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
			+ "<message from='a@b/c' title=\"x > y\"><body>é ✓ 𝄞 &lt;tag&gt;</body><!-- <a> --><x><![CDATA[</message>]]></x></message>"
			+ "<iq type='result' id='1'/>  </stream:stream>";
		var expected = [
			"H",
			"E<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
			"E<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
			"E<message from='a@b/c' title=\"x > y\"><body>é ✓ 𝄞 &lt;tag&gt;</body><!-- <a> --><x><![CDATA[</message>]]></x></message>",
			"E<iq type='result' id='1'/>",
			"/"
		];
		check("one piece", run([raw]), expected);
		for (cut in 1...raw.length)
			check("cut at " + cut, run([raw.substr(0, cut), raw.substr(cut)]), expected);
		check("char by char", run([for (i in 0...raw.length) raw.charAt(i)]), expected);

		// NUL mode: one packet per element, the open flash:stream header, a stray NUL.
		var packets = [
			"<?xml version='1.0' encoding='UTF-8'?><flash:stream xmlns:flash=\"http://www.jabber.com/streams/flash\" xmlns:stream=\"http://etherx.jabber.org/streams\" xmlns=\"jabber:client\" from=\"localhost\" id=\"x\" version=\"1.0\">",
			"\x00<iq type=\"result\" id=\"fxgiq1\"><query xmlns=\"jabber:iq:auth\"><username>alice</username><password/><resource/></query></iq>",
			"<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\"><host-unknown xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>",
			"</flash:stream>"
		];
		check("nul packets", run(packets), [
			"H",
			"E<iq type=\"result\" id=\"fxgiq1\"><query xmlns=\"jabber:iq:auth\"><username>alice</username><password/><resource/></query></iq>",
			"E<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\"><host-unknown xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>",
			"/"
		]);

		// UTF-8: a read may end inside a character.
		var bytes = haxe.io.Bytes.ofString("aé✓𝄞");
		var whole = [1, 3, 6, 10];
		for (n in 0...bytes.length + 1) {
			var got = StreamSplitter.completeUtf8Length(function(i) return bytes.get(i), n);
			var want = 0;
			for (w in whole)
				if (w <= n)
					want = w;
			if (got != want) {
				failures++;
				Sys.println('utf8 $n: got $got, want $want');
			}
		}

		Sys.println(failures == 0 ? "SplitterTest: all passed" : 'SplitterTest: $failures failed');
		Sys.exit(failures == 0 ? 0 : 1);
	}

	static function run(pieces:Array<String>):Array<String> {
		var s = new StreamSplitter();
		var out = [];
		for (p in pieces)
			for (c in s.push(p))
				out.push(switch (c) {
					case Header(_): "H";
					case Element(xml): "E" + xml;
					case End: "/";
				});
		return out;
	}

	static function check(name:String, got:Array<String>, want:Array<String>) {
		if (got.join("\n") != want.join("\n")) {
			failures++;
			if (failures < 5)
				Sys.println('$name:\n  got  ${got.join(" | ")}\n  want ${want.join(" | ")}');
		}
	}
}
