#!/usr/bin/python3
"""RTMP test client driver: a REAL RTMP client (Debian's python3-librtmp does the TCP/TLS/RTMPT
connection, the handshake and the chunk stream) driven by JSON lines on stdin/stdout, with its
own AMF0/AMF3 codec (librtmp's is AMF0-only and decodes ECMA/strict arrays to empty containers).

Run it with /usr/bin/python3 (Debian's python3-librtmp is invisible to a pyenv python3).
librtmp is imported only on the first `connect`, so the codec ops work without it.

Requests (one JSON object per line on stdin; every one gets exactly one response line
`{"id":N,"ok":true,"result":...}` or `{"id":N,"ok":false,"error":"..."}`):

  {"id":1,"op":"connect","url":"rtmp://127.0.0.1:1935/xmpp","objectEncoding":3,
   "handshake":"simple"|"digest", "timeout":10, "flashVer":"...", "app":"...", "tcUrl":"...",
   "swfUrl":"...", "pageUrl":"...", "commandObject":{...extra/overriding connect fields...},
   "omit":["fpad",...], "connectArgs":[...], "pollIntervalMs":15}
      -> result {"name":"_result"|"_error","txid":1,"commandObject":...,"values":[info...],
                 "type":20,"body":"hex","handshake":"simple"|"digest","protocol":"rtmp"|...}
  {"id":2,"op":"call","method":"xmpp_connect","args":[...],"responder":true,
   "type":17|20, "argEncoding":0|3, "txid":N, "commandObject":null, "refs":true,
   "amf3Context":"message"|"value", "channel":3, "format":1, "streamId":0}
      -> with a responder: result {"name","txid","commandObject","values","type","body"}
         once the `_result`/`_error` with that transaction id arrives;
         without one (transaction id 0): result {"txid":0} as soon as it is sent.
  {"op":"reply","txid":N,"name":"_result","values":[...]}   answer a server invocation (txid > 0)
  {"op":"raw","type":20,"body":"hex","channel":3,"format":0,"streamId":0,"timestamp":0}
  {"op":"set_chunk_size","size":4096}     sends Set Chunk Size and applies it to what follows
  {"op":"status"}    {"op":"close"}       {"op":"ping"}
  {"op":"encode","encoding":0|3,"values":[...]}   -> {"hex":...}  (AMF0 values, or AMF3 values)
  {"op":"decode","encoding":0|3,"hex":"..."}      -> {"values":[...]}
  {"op":"encode_message","type":20|17,"values":[...],"argEncoding":0|3}  -> {"hex":...}
  {"op":"decode_message","type":20|17|18|15,"hex":"..."} -> {"values":[...]}

Events (unsolicited lines):
  {"event":"invoke","name":"xmpp_message","txid":0,"commandObject":null,"args":[...],
   "type":20|17,"body":"hex"}    every server->client command not consumed as a call's reply
                                  (a stray or duplicate `_result`/`_error` is one too)
  {"event":"data","name":...,"args":[...],"type":18|15,"body":"hex"}
  {"event":"packet","type":N,"channel":C,"streamId":S,"timestamp":T,"body":"hex"} any other message
  {"event":"error","message":"...","type":N,"body":"hex"}   a message that could not be decoded
  {"event":"closed","by":"server"|"client","reason":"..."}

AMF <-> JSON mapping (decode output; encode accepts the same):
  number -> JSON number, or {"$number":"NaN"|"Infinity"|"-Infinity"|"-0"}
            (encode: {"$int":n} forces an AMF3 integer, {"$double":x} a double; otherwise an
            integral value in [-2^28, 2^28-1] goes as an AMF3 integer)
  boolean, string, null -> same; undefined -> {"$undefined":true}
  string that is not valid UTF-8 -> {"$strbytes":"hex"}; {"$longstring":"s"} forces AMF0 0x0C
  anonymous object -> JSON object; if a key starts with "$": {"$object":{...}}
  typed object -> {"$class":"name","members":{...}} (+ AMF3: "sealed":[names],"dynamic":bool)
  AMF0 ECMA array -> {"$ecma":{...}}
  strict/dense array -> JSON array; AMF3 array with associative part ->
            {"$array":[...],"assoc":{...}}
  date -> {"$date":ms} (AMF0 timezone in "tz" when not 0)
  AMF0 XML document / AMF3 XMLDocument -> {"$xmldoc":"..."}; AMF3 XML -> {"$xml":"..."}
  ByteArray -> {"$bytes":"hex"}
  Vector -> {"$vector":"int"|"uint"|"double"|"object","fixed":bool,"items":[...],"class":"..."}
  Dictionary -> {"$dictionary":[[k,v],...],"weak":bool}
  AMF0 unsupported -> {"$unsupported":true}
  a reference back to a value still being decoded (a cycle) -> {"$cycle":true}
  encode only: {"$raw":"hex"} splices bytes, {"$amf3":v} switches to AMF3 in an AMF0 context,
               {"$ref":n} an AMF0 reference
"""

import fcntl
import json
import math
import os
import re
import select
import socket
import struct
import sys
import time
import traceback
from urllib.parse import urlsplit

# ---------------------------------------------------------------------------------------------
# AMF model (decoded values that have no plain JSON equivalent)


class AmfError(Exception):
    pass


class _Undefined:
    __slots__ = ()


UNDEFINED = _Undefined()


class _Unsupported:
    __slots__ = ()


UNSUPPORTED = _Unsupported()


class TypedObject:
    __slots__ = ('cls', 'members', 'sealed', 'dynamic')

    def __init__(self, cls, members, sealed=None, dynamic=None):
        self.cls, self.members, self.sealed, self.dynamic = cls, members, sealed, dynamic


class EcmaArray:
    __slots__ = ('members',)

    def __init__(self, members):
        self.members = members


class MixedArray:
    __slots__ = ('dense', 'assoc')

    def __init__(self, dense, assoc):
        self.dense, self.assoc = dense, assoc


class AmfDate:
    __slots__ = ('ms', 'tz')

    def __init__(self, ms, tz=0):
        self.ms, self.tz = ms, tz


class AmfXml:
    __slots__ = ('text', 'doc')

    def __init__(self, text, doc):
        self.text, self.doc = text, doc


class AmfBytes:
    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data


class AmfVector:
    __slots__ = ('kind', 'fixed', 'items', 'cls')

    def __init__(self, kind, fixed, items, cls=None):
        self.kind, self.fixed, self.items, self.cls = kind, fixed, items, cls


class AmfDictionary:
    __slots__ = ('pairs', 'weak')

    def __init__(self, pairs, weak):
        self.pairs, self.weak = pairs, weak


class BadString:
    """A string whose bytes are not valid UTF-8."""
    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data


class Pending:
    """Placeholder registered in a reference table while its value is still being decoded."""
    __slots__ = ('value',)

    def __init__(self):
        self.value = None


# ---------------------------------------------------------------------------------------------
# Decoding

INT29_MIN = -(1 << 28)
INT29_MAX = (1 << 28) - 1


class Reader:
    __slots__ = ('data', 'pos')

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise AmfError('truncated: need %d bytes at offset %d, have %d' % (n, self.pos, len(self.data) - self.pos))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def peek(self):
        if self.pos >= len(self.data):
            raise AmfError('truncated at offset %d' % self.pos)
        return self.data[self.pos]

    def u16(self):
        return struct.unpack('>H', self.take(2))[0]

    def s16(self):
        return struct.unpack('>h', self.take(2))[0]

    def u32(self):
        return struct.unpack('>I', self.take(4))[0]

    def s32(self):
        return struct.unpack('>i', self.take(4))[0]

    def double(self):
        return struct.unpack('>d', self.take(8))[0]

    def u29(self):
        value = 0
        for i in range(3):
            b = self.u8()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                return value
        return (value << 8) | self.u8()


def utf8(data):
    try:
        return bytes(data).decode('utf-8')
    except UnicodeDecodeError:
        return BadString(bytes(data))


def utf8_key(data):
    s = utf8(data)
    if isinstance(s, BadString):
        raise AmfError('member name is not valid UTF-8: %s' % bytes(data).hex())
    return s


class Amf3Context:
    __slots__ = ('strings', 'objects', 'traits')

    def __init__(self):
        self.strings = []
        self.objects = []
        self.traits = []


def decode_amf0(r, refs, ctx3):
    marker = r.u8()
    if marker == 0x00:
        return r.double()
    if marker == 0x01:
        return r.u8() != 0
    if marker == 0x02:
        return utf8(r.take(r.u16()))
    if marker == 0x03:
        obj = {}
        refs.append(obj)
        _amf0_members(r, refs, ctx3, obj)
        return obj
    if marker == 0x05:
        return None
    if marker == 0x06:
        return UNDEFINED
    if marker == 0x07:
        idx = r.u16()
        if idx >= len(refs):
            raise AmfError('AMF0 reference %d out of range (%d objects)' % (idx, len(refs)))
        return refs[idx]
    if marker == 0x08:
        r.u32()  # the count is only a hint
        arr = EcmaArray({})
        refs.append(arr)
        _amf0_members(r, refs, ctx3, arr.members)
        return arr
    if marker == 0x0A:
        n = r.u32()
        if n > r.remaining():
            raise AmfError('AMF0 strict array of %d elements in %d bytes' % (n, r.remaining()))
        arr = []
        refs.append(arr)
        for _ in range(n):
            arr.append(decode_amf0(r, refs, ctx3))
        return arr
    if marker == 0x0B:
        ms = r.double()
        tz = r.s16()
        return AmfDate(ms, tz)
    if marker == 0x0C:
        return utf8(r.take(r.u32()))
    if marker == 0x0D:
        return UNSUPPORTED
    if marker == 0x0F:
        s = utf8(r.take(r.u32()))
        if isinstance(s, BadString):
            return s
        return AmfXml(s, True)
    if marker == 0x10:
        cls = utf8_key(r.take(r.u16()))
        obj = TypedObject(cls, {})
        refs.append(obj)
        _amf0_members(r, refs, ctx3, obj.members)
        return obj
    if marker == 0x11:
        return decode_amf3(r, ctx3)
    raise AmfError('unsupported AMF0 marker 0x%02x at offset %d' % (marker, r.pos - 1))


def _amf0_members(r, refs, ctx3, target):
    while True:
        n = r.u16()
        if n == 0 and r.peek() == 0x09:
            r.u8()
            return
        key = utf8_key(r.take(n))
        target[key] = decode_amf0(r, refs, ctx3)


def _amf3_string(r, ctx3):
    ref = r.u29()
    if not ref & 1:
        idx = ref >> 1
        if idx >= len(ctx3.strings):
            raise AmfError('AMF3 string reference %d out of range (%d strings)' % (idx, len(ctx3.strings)))
        return ctx3.strings[idx]
    n = ref >> 1
    s = utf8(r.take(n))
    if n > 0:
        ctx3.strings.append(s)
    return s


def _amf3_key(r, ctx3):
    s = _amf3_string(r, ctx3)
    if isinstance(s, BadString):
        raise AmfError('AMF3 member name is not valid UTF-8: %s' % s.data.hex())
    return s


def _amf3_objref(ctx3, ref):
    idx = ref >> 1
    if idx >= len(ctx3.objects):
        raise AmfError('AMF3 object reference %d out of range (%d objects)' % (idx, len(ctx3.objects)))
    return ctx3.objects[idx]


def decode_amf3(r, ctx3):
    marker = r.u8()
    if marker == 0x00:
        return UNDEFINED
    if marker == 0x01:
        return None
    if marker == 0x02:
        return False
    if marker == 0x03:
        return True
    if marker == 0x04:
        v = r.u29()
        return v - (1 << 29) if v & (1 << 28) else v
    if marker == 0x05:
        return r.double()
    if marker == 0x06:
        return _amf3_string(r, ctx3)
    if marker in (0x07, 0x0B):
        ref = r.u29()
        if not ref & 1:
            return _amf3_objref(ctx3, ref)
        s = utf8(r.take(ref >> 1))
        v = s if isinstance(s, BadString) else AmfXml(s, marker == 0x07)
        ctx3.objects.append(v)
        return v
    if marker == 0x08:
        ref = r.u29()
        if not ref & 1:
            return _amf3_objref(ctx3, ref)
        v = AmfDate(r.double())
        ctx3.objects.append(v)
        return v
    if marker == 0x09:
        ref = r.u29()
        if not ref & 1:
            return _amf3_objref(ctx3, ref)
        n = ref >> 1
        slot = Pending()
        idx = len(ctx3.objects)
        ctx3.objects.append(slot)
        assoc = {}
        while True:
            key = _amf3_key(r, ctx3)
            if key == '':
                break
            assoc[key] = decode_amf3(r, ctx3)
        if n > r.remaining():
            raise AmfError('AMF3 array of %d elements in %d bytes' % (n, r.remaining()))
        dense = []
        value = MixedArray(dense, assoc) if assoc else dense
        slot.value = value
        ctx3.objects[idx] = value
        for _ in range(n):
            dense.append(decode_amf3(r, ctx3))
        return value
    if marker == 0x0A:
        ref = r.u29()
        if not ref & 1:
            return _amf3_objref(ctx3, ref)
        if not ref & 2:
            idx = ref >> 2
            if idx >= len(ctx3.traits):
                raise AmfError('AMF3 traits reference %d out of range (%d traits)' % (idx, len(ctx3.traits)))
            cls, sealed, dynamic = ctx3.traits[idx]
        else:
            if ref & 4:
                cls = _amf3_string(r, ctx3)
                raise AmfError('AMF3 externalizable object (class %r) is not supported' % (cls,))
            dynamic = bool(ref & 8)
            count = ref >> 4
            cls = _amf3_key(r, ctx3)
            sealed = [_amf3_key(r, ctx3) for _ in range(count)]
            ctx3.traits.append((cls, sealed, dynamic))
        members = {}
        if cls == '' and not sealed:
            value = members
        else:
            value = TypedObject(cls, members, list(sealed), dynamic)
        ctx3.objects.append(value)
        for name in sealed:
            members[name] = decode_amf3(r, ctx3)
        if dynamic:
            while True:
                key = _amf3_key(r, ctx3)
                if key == '':
                    break
                members[key] = decode_amf3(r, ctx3)
        return value
    if marker == 0x0C:
        ref = r.u29()
        if not ref & 1:
            return _amf3_objref(ctx3, ref)
        v = AmfBytes(bytes(r.take(ref >> 1)))
        ctx3.objects.append(v)
        return v
    if marker in (0x0D, 0x0E, 0x0F, 0x10):
        ref = r.u29()
        if not ref & 1:
            return _amf3_objref(ctx3, ref)
        n = ref >> 1
        fixed = r.u8() != 0
        kind = {0x0D: 'int', 0x0E: 'uint', 0x0F: 'double', 0x10: 'object'}[marker]
        cls = _amf3_key(r, ctx3) if marker == 0x10 else None
        item_size = {0x0D: 4, 0x0E: 4, 0x0F: 8, 0x10: 1}[marker]
        if n * item_size > r.remaining():
            raise AmfError('AMF3 vector of %d elements in %d bytes' % (n, r.remaining()))
        items = []
        v = AmfVector(kind, fixed, items, cls)
        ctx3.objects.append(v)
        for _ in range(n):
            if marker == 0x0D:
                items.append(r.s32())
            elif marker == 0x0E:
                items.append(r.u32())
            elif marker == 0x0F:
                items.append(r.double())
            else:
                items.append(decode_amf3(r, ctx3))
        return v
    if marker == 0x11:
        ref = r.u29()
        if not ref & 1:
            return _amf3_objref(ctx3, ref)
        n = ref >> 1
        weak = r.u8() != 0
        if 2 * n > r.remaining():
            raise AmfError('AMF3 dictionary of %d entries in %d bytes' % (n, r.remaining()))
        pairs = []
        v = AmfDictionary(pairs, weak)
        ctx3.objects.append(v)
        for _ in range(n):
            k = decode_amf3(r, ctx3)
            pairs.append([k, decode_amf3(r, ctx3)])
        return v
    raise AmfError('unsupported AMF3 marker 0x%02x at offset %d' % (marker, r.pos - 1))


def decode_values(data, encoding, pos=0):
    """Every value in `data` from `pos`: AMF0 values (one AMF3 context for the switched ones)
    or AMF3 values (one context for all)."""
    r = Reader(bytes(data), pos)
    ctx3 = Amf3Context()
    refs = []
    out = []
    while r.remaining() > 0:
        out.append(decode_amf0(r, refs, ctx3) if encoding == 0 else decode_amf3(r, ctx3))
    return out


def decode_message(mtype, body):
    """The values of a command/data message: types 20/18 are AMF0 (with AMF3 switches);
    types 17/15 start with a 0x00 format byte, then the same."""
    pos = 0
    if mtype in (17, 15):
        if len(body) == 0 or body[0] != 0:
            raise AmfError('type-%d message does not start with 0x00 (starts with %s)' % (mtype, bytes(body[:1]).hex() or 'nothing'))
        pos = 1
    return decode_values(body, 0, pos)


# ---------------------------------------------------------------------------------------------
# Decoded values -> JSON


def to_json(v, stack=None):
    if stack is None:
        stack = []
    if isinstance(v, Pending):
        if v.value is None or any(s is v.value for s in stack):
            return {'$cycle': True}
        v = v.value
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return {'$number': 'NaN'}
        if math.isinf(v):
            return {'$number': 'Infinity' if v > 0 else '-Infinity'}
        if v == 0 and math.copysign(1, v) < 0:
            return {'$number': '-0'}
        if v.is_integer() and abs(v) < 2 ** 53:
            return int(v)
        return v
    if v is UNDEFINED:
        return {'$undefined': True}
    if v is UNSUPPORTED:
        return {'$unsupported': True}
    if isinstance(v, BadString):
        return {'$strbytes': v.data.hex()}
    if isinstance(v, AmfDate):
        out = {'$date': to_json(v.ms)}
        if v.tz:
            out['tz'] = v.tz
        return out
    if isinstance(v, AmfXml):
        return {'$xmldoc' if v.doc else '$xml': v.text}
    if isinstance(v, AmfBytes):
        return {'$bytes': v.data.hex()}
    if any(s is v for s in stack):
        return {'$cycle': True}
    stack.append(v)
    try:
        if isinstance(v, list):
            return [to_json(x, stack) for x in v]
        if isinstance(v, dict):
            obj = {k: to_json(x, stack) for k, x in v.items()}
            if any(k.startswith('$') for k in obj):
                return {'$object': obj}
            return obj
        if isinstance(v, TypedObject):
            out = {'$class': v.cls, 'members': {k: to_json(x, stack) for k, x in v.members.items()}}
            if v.sealed is not None:
                out['sealed'] = list(v.sealed)
                out['dynamic'] = bool(v.dynamic)
            return out
        if isinstance(v, EcmaArray):
            return {'$ecma': {k: to_json(x, stack) for k, x in v.members.items()}}
        if isinstance(v, MixedArray):
            return {'$array': [to_json(x, stack) for x in v.dense], 'assoc': {k: to_json(x, stack) for k, x in v.assoc.items()}}
        if isinstance(v, AmfVector):
            out = {'$vector': v.kind, 'fixed': v.fixed, 'items': [to_json(x, stack) for x in v.items]}
            if v.cls is not None:
                out['class'] = v.cls
            return out
        if isinstance(v, AmfDictionary):
            return {'$dictionary': [[to_json(k, stack), to_json(x, stack)] for k, x in v.pairs], 'weak': v.weak}
    finally:
        stack.pop()
    raise AmfError('cannot represent %r' % (v,))


# ---------------------------------------------------------------------------------------------
# Encoding (JSON-mapped values -> AMF)

MARKERS = {'$undefined', '$number', '$int', '$double', '$date', '$xml', '$xmldoc', '$bytes', '$ecma',
           '$array', '$object', '$class', '$vector', '$dictionary', '$raw', '$amf3', '$longstring',
           '$unsupported', '$ref', '$strbytes'}


def marker_of(d):
    for k in d:
        if k.startswith('$'):
            if k not in MARKERS:
                raise AmfError('unknown marker %r (escape plain objects with "$"-keys as {"$object": {...}})' % k)
            return k
    return None


def number_of(v):
    """A JSON number or {"$number": ...} as a float/int."""
    if isinstance(v, bool):
        raise AmfError('not a number: %r' % (v,))
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        special = {'NaN': math.nan, 'Infinity': math.inf, '-Infinity': -math.inf, '-0': -0.0}
        if v in special:
            return special[v]
        return float(v)
    if isinstance(v, dict) and len(v) == 1 and '$number' in v:
        return number_of(v['$number'])
    raise AmfError('not a number: %r' % (v,))


def encode_utf8(s):
    if isinstance(s, dict) and '$strbytes' in s:
        return bytes.fromhex(s['$strbytes'])
    if not isinstance(s, str):
        raise AmfError('not a string: %r' % (s,))
    try:
        return s.encode('utf-8')
    except UnicodeEncodeError as e:
        raise AmfError('string is not valid Unicode (lone surrogate?): %s' % e)


def is_int29(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return INT29_MIN <= v <= INT29_MAX
    if isinstance(v, float):
        return v.is_integer() and INT29_MIN <= v <= INT29_MAX and not (v == 0 and math.copysign(1, v) < 0)
    return False


class Amf3Writer:
    """One AMF3 reference context for encoding (string and traits references, like Flash)."""

    def __init__(self, refs=True):
        self.refs = refs
        self.strings = {}
        self.traits = {}


def u29(n):
    if n < 0 or n > 0x1FFFFFFF:
        raise AmfError('U29 out of range: %d' % n)
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return bytes([(n >> 7) | 0x80, n & 0x7F])
    if n < 0x200000:
        return bytes([(n >> 14) | 0x80, ((n >> 7) & 0x7F) | 0x80, n & 0x7F])
    return bytes([(n >> 22) | 0x80, ((n >> 15) & 0x7F) | 0x80, ((n >> 8) & 0x7F) | 0x80, n & 0xFF])


def encode_amf0(v, out, w3):
    if v is None:
        out.append(0x05)
    elif isinstance(v, bool):
        out += b'\x01\x01' if v else b'\x01\x00'
    elif isinstance(v, (int, float)):
        out.append(0x00)
        out += struct.pack('>d', float(v))
    elif isinstance(v, str):
        b = encode_utf8(v)
        _amf0_string(b, out)
    elif isinstance(v, list):
        out.append(0x0A)
        out += struct.pack('>I', len(v))
        for x in v:
            encode_amf0(x, out, w3)
    elif isinstance(v, dict):
        m = marker_of(v)
        if m is None:
            out.append(0x03)
            _amf0_write_members(v, out, w3)
        elif m == '$object':
            out.append(0x03)
            _amf0_write_members(v['$object'], out, w3)
        elif m == '$undefined':
            out.append(0x06)
        elif m in ('$number', '$double', '$int'):
            out.append(0x00)
            out += struct.pack('>d', float(number_of(v[m])))
        elif m == '$strbytes':
            _amf0_string(bytes.fromhex(v[m]), out)
        elif m == '$longstring':
            b = encode_utf8(v[m])
            out.append(0x0C)
            out += struct.pack('>I', len(b))
            out += b
        elif m == '$date':
            out.append(0x0B)
            out += struct.pack('>d', float(number_of(v[m])))
            out += struct.pack('>h', int(v.get('tz', 0)))
        elif m in ('$xml', '$xmldoc'):
            b = encode_utf8(v[m])
            out.append(0x0F)
            out += struct.pack('>I', len(b))
            out += b
        elif m == '$ecma':
            members = v[m]
            out.append(0x08)
            out += struct.pack('>I', int(v.get('count', len(members))))
            _amf0_write_members(members, out, w3)
        elif m == '$array':
            members = {str(i): x for i, x in enumerate(v[m])}
            members.update(v.get('assoc', {}))
            out.append(0x08)
            out += struct.pack('>I', len(v[m]))
            _amf0_write_members(members, out, w3)
        elif m == '$class':
            name = encode_utf8(v[m])
            if name == b'':
                out.append(0x03)
            else:
                out.append(0x10)
                out += struct.pack('>H', len(name)) + name
            _amf0_write_members(v.get('members', {}), out, w3)
        elif m == '$raw':
            out += bytes.fromhex(v[m])
        elif m == '$amf3':
            out.append(0x11)
            encode_amf3(v[m], out, w3)
        elif m == '$unsupported':
            out.append(0x0D)
        elif m == '$ref':
            out.append(0x07)
            out += struct.pack('>H', int(v[m]))
        else:
            raise AmfError('%s has no AMF0 form (wrap it in {"$amf3": ...})' % m)
    else:
        raise AmfError('cannot encode %r' % (v,))


def _amf0_string(b, out):
    if len(b) <= 0xFFFF:
        out.append(0x02)
        out += struct.pack('>H', len(b))
    else:
        out.append(0x0C)
        out += struct.pack('>I', len(b))
    out += b


def _amf0_write_members(members, out, w3):
    if not isinstance(members, dict):
        raise AmfError('members must be an object: %r' % (members,))
    for k, x in members.items():
        kb = encode_utf8(k)
        if len(kb) > 0xFFFF:
            raise AmfError('AMF0 member name longer than 65535 bytes')
        out += struct.pack('>H', len(kb)) + kb
        encode_amf0(x, out, w3)
    out += b'\x00\x00\x09'


def _amf3_str(b, out, w3):
    """An AMF3 string body (no marker) with string references."""
    if len(b) == 0:
        out.append(0x01)
        return
    if w3.refs and b in w3.strings:
        out += u29(w3.strings[b] << 1)
        return
    if w3.refs:
        w3.strings[b] = len(w3.strings)
    out += u29((len(b) << 1) | 1)
    out += b


def encode_amf3(v, out, w3):
    if v is None:
        out.append(0x01)
    elif v is True:
        out.append(0x03)
    elif v is False:
        out.append(0x02)
    elif isinstance(v, (int, float)):
        if is_int29(v):
            out.append(0x04)
            out += u29(int(v) & 0x1FFFFFFF)
        else:
            out.append(0x05)
            out += struct.pack('>d', float(v))
    elif isinstance(v, str):
        out.append(0x06)
        _amf3_str(encode_utf8(v), out, w3)
    elif isinstance(v, list):
        out.append(0x09)
        out += u29((len(v) << 1) | 1)
        out.append(0x01)
        for x in v:
            encode_amf3(x, out, w3)
    elif isinstance(v, dict):
        m = marker_of(v)
        if m is None or m == '$object':
            _amf3_object('', v if m is None else v['$object'], [], True, out, w3)
        elif m == '$undefined':
            out.append(0x00)
        elif m == '$number' or m == '$double':
            out.append(0x05)
            out += struct.pack('>d', float(number_of(v[m])))
        elif m == '$int':
            n = number_of(v[m])
            if not is_int29(n):
                raise AmfError('$int %r is outside the AMF3 integer range' % (n,))
            out.append(0x04)
            out += u29(int(n) & 0x1FFFFFFF)
        elif m in ('$strbytes', '$longstring'):
            out.append(0x06)
            _amf3_str(encode_utf8(v[m] if m == '$longstring' else v), out, w3)
        elif m == '$date':
            out.append(0x08)
            out.append(0x01)
            out += struct.pack('>d', float(number_of(v[m])))
        elif m in ('$xml', '$xmldoc'):
            b = encode_utf8(v[m])
            out.append(0x0B if m == '$xml' else 0x07)
            out += u29((len(b) << 1) | 1)
            out += b
        elif m == '$bytes':
            b = bytes.fromhex(v[m])
            out.append(0x0C)
            out += u29((len(b) << 1) | 1)
            out += b
        elif m in ('$ecma', '$array'):
            dense = v[m] if m == '$array' else []
            assoc = v[m] if m == '$ecma' else v.get('assoc', {})
            out.append(0x09)
            out += u29((len(dense) << 1) | 1)
            for k, x in assoc.items():
                kb = encode_utf8(k)
                if kb == b'':
                    raise AmfError('an AMF3 associative array cannot have an empty key')
                _amf3_str(kb, out, w3)
                encode_amf3(x, out, w3)
            out.append(0x01)
            for x in dense:
                encode_amf3(x, out, w3)
        elif m == '$class':
            members = v.get('members', {})
            sealed = v.get('sealed')
            if sealed is None:
                sealed = []
            dynamic = v.get('dynamic', True if not v.get('sealed') else False)
            _amf3_object(v[m], members, sealed, dynamic, out, w3)
        elif m == '$vector':
            kind = v[m]
            items = v.get('items', [])
            code = {'int': 0x0D, 'uint': 0x0E, 'double': 0x0F, 'object': 0x10}.get(kind)
            if code is None:
                raise AmfError('unknown vector kind %r' % (kind,))
            out.append(code)
            out += u29((len(items) << 1) | 1)
            out.append(1 if v.get('fixed') else 0)
            if code == 0x10:
                _amf3_str(encode_utf8(v.get('class', '')), out, w3)
            for x in items:
                if code == 0x0D:
                    out += struct.pack('>i', int(x))
                elif code == 0x0E:
                    out += struct.pack('>I', int(x))
                elif code == 0x0F:
                    out += struct.pack('>d', float(number_of(x)))
                else:
                    encode_amf3(x, out, w3)
        elif m == '$dictionary':
            pairs = v[m]
            out.append(0x11)
            out += u29((len(pairs) << 1) | 1)
            out.append(1 if v.get('weak') else 0)
            for k, x in pairs:
                encode_amf3(k, out, w3)
                encode_amf3(x, out, w3)
        elif m == '$raw':
            out += bytes.fromhex(v[m])
        elif m == '$amf3':
            encode_amf3(v[m], out, w3)
        else:
            raise AmfError('%s has no AMF3 form' % m)
    else:
        raise AmfError('cannot encode %r' % (v,))


def _amf3_object(cls, members, sealed, dynamic, out, w3):
    if not isinstance(members, dict):
        raise AmfError('members must be an object: %r' % (members,))
    out.append(0x0A)
    key = (cls, tuple(sealed), bool(dynamic))
    if w3.refs and key in w3.traits:
        out += u29((w3.traits[key] << 2) | 1)
    else:
        if w3.refs:
            w3.traits[key] = len(w3.traits)
        out += u29((len(sealed) << 4) | (0x08 if dynamic else 0) | 0x03)
        _amf3_str(encode_utf8(cls), out, w3)
        for name in sealed:
            _amf3_str(encode_utf8(name), out, w3)
    for name in sealed:
        encode_amf3(members.get(name), out, w3)
    if dynamic:
        for k, x in members.items():
            if k in sealed:
                continue
            kb = encode_utf8(k)
            if kb == b'':
                raise AmfError('an AMF3 dynamic member cannot have an empty name')
            _amf3_str(kb, out, w3)
            encode_amf3(x, out, w3)
        out.append(0x01)


def encode_values(values, encoding, refs=True):
    out = bytearray()
    w3 = Amf3Writer(refs)
    for v in values:
        if encoding == 0:
            encode_amf0(v, out, w3)
        else:
            encode_amf3(v, out, w3)
    return bytes(out)


def encode_command(mtype, name, txid, command_object, args, arg_encoding, refs=True, context='message'):
    """A command message body: type 20 = AMF0; type 17 = 0x00 then AMF0. With arg_encoding 3
    every argument is switched to AMF3 (0x11), sharing one AMF3 context per message (or one per
    value with context='value')."""
    out = bytearray()
    if mtype == 17:
        out.append(0x00)
    w3 = Amf3Writer(refs)
    encode_amf0(name, out, w3)
    encode_amf0(txid, out, w3)
    encode_amf0(command_object, out, w3)
    for a in args:
        if context == 'value':
            w3 = Amf3Writer(refs)
        if arg_encoding == 3:
            out.append(0x11)
            encode_amf3(a, out, w3)
        else:
            encode_amf0(a, out, w3)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Output


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(',', ':')) + '\n')
    sys.stdout.flush()


def log_err(msg):
    sys.stderr.write('rtmp_client.py: %s\n' % msg)
    sys.stderr.flush()


class OpError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# librtmp glue

_lr = None  # the librtmp module, imported on first use


def librtmp_module():
    global _lr
    if _lr is None:
        try:
            import librtmp as mod  # noqa
        except ImportError as e:
            raise OpError('python3-librtmp is not importable by %s (%s): apt-get install -y python3-librtmp rtmpdump, '
                          'and run this script with /usr/bin/python3' % (sys.executable, e))
        _lr = mod
    return _lr


def rtmp_struct_types():
    """ctypes mirror of Debian's librtmp 2.4+20151223 `RTMP` struct up to `m_sb` (rtmp.h), used
    to see what librtmp has buffered (sb_size, RTMPT state) and to set m_outChunkSize. Checked
    against RTMP_Socket() before use."""
    import ctypes as C

    class AVal(C.Structure):
        _fields_ = [('av_val', C.c_void_p), ('av_len', C.c_int)]

    class RTMP_READ(C.Structure):
        _fields_ = [('buf', C.c_void_p), ('bufpos', C.c_void_p), ('buflen', C.c_uint), ('timestamp', C.c_uint32),
                    ('dataType', C.c_uint8), ('flags', C.c_uint8), ('status', C.c_int8), ('initialFrameType', C.c_uint8),
                    ('nResumeTS', C.c_uint32), ('metaHeader', C.c_void_p), ('initialFrame', C.c_void_p),
                    ('nMetaHeaderSize', C.c_uint32), ('nInitialFrameSize', C.c_uint32),
                    ('nIgnoredFrameCounter', C.c_uint32), ('nIgnoredFlvFrameCounter', C.c_uint32)]

    class RTMPPacketS(C.Structure):
        _fields_ = [('m_headerType', C.c_uint8), ('m_packetType', C.c_uint8), ('m_hasAbsTimestamp', C.c_uint8),
                    ('m_nChannel', C.c_int), ('m_nTimeStamp', C.c_uint32), ('m_nInfoField2', C.c_int32),
                    ('m_nBodySize', C.c_uint32), ('m_nBytesRead', C.c_uint32), ('m_chunk', C.c_void_p),
                    ('m_body', C.c_void_p)]

    class RTMPSockBuf(C.Structure):
        _fields_ = [('sb_socket', C.c_int), ('sb_size', C.c_int), ('sb_start', C.c_void_p),
                    ('sb_buf', C.c_char * (16 * 1024)), ('sb_timedout', C.c_int), ('sb_ssl', C.c_void_p)]

    class RTMPHead(C.Structure):
        _fields_ = [('m_inChunkSize', C.c_int), ('m_outChunkSize', C.c_int), ('m_nBWCheckCounter', C.c_int),
                    ('m_nBytesIn', C.c_int), ('m_nBytesInSent', C.c_int), ('m_nBufferMS', C.c_int),
                    ('m_stream_id', C.c_int), ('m_mediaChannel', C.c_int), ('m_mediaStamp', C.c_uint32),
                    ('m_pauseStamp', C.c_uint32), ('m_pausing', C.c_int), ('m_nServerBW', C.c_int),
                    ('m_nClientBW', C.c_int), ('m_nClientBW2', C.c_uint8), ('m_bPlaying', C.c_uint8),
                    ('m_bSendEncoding', C.c_uint8), ('m_bSendCounter', C.c_uint8), ('m_numInvokes', C.c_int),
                    ('m_numCalls', C.c_int), ('m_methodCalls', C.c_void_p), ('m_channelsAllocatedIn', C.c_int),
                    ('m_channelsAllocatedOut', C.c_int), ('m_vecChannelsIn', C.c_void_p),
                    ('m_vecChannelsOut', C.c_void_p), ('m_channelTimestamp', C.c_void_p),
                    ('m_fAudioCodecs', C.c_double), ('m_fVideoCodecs', C.c_double), ('m_fEncoding', C.c_double),
                    ('m_fDuration', C.c_double), ('m_msgCounter', C.c_int), ('m_polling', C.c_int),
                    ('m_resplen', C.c_int), ('m_unackd', C.c_int), ('m_clientID', AVal), ('m_read', RTMP_READ),
                    ('m_write', RTMPPacketS), ('m_sb', RTMPSockBuf)]

    return RTMPHead


class Closed(Exception):
    pass


class Connection:
    def __init__(self, req):
        import ctypes
        self.ctypes = ctypes
        self.open = False
        self.sock = None
        self.rtmp = None
        self.on_log = None
        lr = librtmp_module()
        self.lr = lr
        self.lib = lr.librtmp
        self.ffi = lr.ffi
        url = req.get('url')
        if not isinstance(url, str):
            raise OpError('connect needs a "url"')
        self.url = url
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ('rtmp', 'rtmpt', 'rtmps'):
            raise OpError('unsupported URL scheme %r (rtmp, rtmpt, rtmps)' % scheme)
        self.http = scheme == 'rtmpt'
        self.object_encoding = int(req.get('objectEncoding', 3))
        if self.object_encoding not in (0, 3):
            raise OpError('objectEncoding must be 0 or 3')
        handshake = req.get('handshake', 'simple')
        if handshake not in ('simple', 'digest'):
            raise OpError('handshake must be "simple" or "digest"')
        self.poll_interval = float(req.get('pollIntervalMs', 15)) / 1000.0
        self.next_read_at = 0.0
        app = req.get('app')
        if app is None:
            app = parts.path.lstrip('/')
        tc_url = req.get('tcUrl') or ('%s://%s/%s' % (scheme, parts.netloc, app))
        opts = {'timeout': int(req.get('timeout', 10))}
        if handshake == 'digest':
            # librtmp (handshake.h HandShake) uses the Flash Player 9+ digest handshake only for
            # RTMPE or when a SWF hash/size is set (SWF verification); any hash will do.
            opts['swfhash'] = req.get('swfhash', '00' * 32)
            opts['swfsize'] = int(req.get('swfsize', 1))
        self.logs = []
        self.handshake_requested = handshake

        cmd = {
            'app': app,
            'flashVer': req.get('flashVer', 'WIN 32,0,0,465'),
        }
        if req.get('swfUrl') is not None:
            cmd['swfUrl'] = req['swfUrl']
        cmd['tcUrl'] = tc_url
        cmd['fpad'] = False
        cmd['capabilities'] = 239
        cmd['audioCodecs'] = 3575
        cmd['videoCodecs'] = 252
        cmd['videoFunction'] = 1
        if req.get('pageUrl') is not None:
            cmd['pageUrl'] = req['pageUrl']
        cmd['objectEncoding'] = self.object_encoding
        for k, v in (req.get('commandObject') or {}).items():
            cmd[k] = v
        for k in req.get('omit') or []:
            cmd.pop(k, None)
        # Flash Player sends connect as an AMF0 command (type 20) whatever the objectEncoding.
        body = encode_command(20, 'connect', 1, cmd, req.get('connectArgs', []), 0)

        try:
            self.rtmp = lr.RTMP(url, **opts)
        except (lr.RTMPError, ValueError) as e:
            raise OpError('librtmp rejected %s: %s' % (url, e))
        self.r = self.rtmp.rtmp
        packet = lr.RTMPPacket(type=20, format=0, channel=3, body=body)

        def on_log(level, msg):
            self.logs.append(msg)
            if len(self.logs) > 400:
                del self.logs[:200]

        self.on_log = on_log
        lr.add_log_callback(on_log)
        self.lib.RTMP_LogSetLevel(4)  # RTMP_LOGDEBUG: the handshake lines tell which form was used
        try:
            ok = self.lib.RTMP_Connect(self.r, packet.packet)
        finally:
            self.lib.RTMP_LogSetLevel(2)  # RTMP_LOGWARNING
        if ok < 1:
            lines = [l for l in self.logs if 'ERROR' in l or 'WARNING' in l or 'fail' in l.lower() or 'refus' in l.lower()]
            self.detach()
            raise OpError('librtmp could not connect to %s: %s' % (url, ' | '.join(lines[-6:]) or 'no detail'))
        joined = '\n'.join(self.logs)
        if 'Genuine Adobe Flash Media Server' in joined:
            self.handshake = 'digest'
        else:
            self.handshake = 'simple'
        self.fd = self.lib.RTMP_Socket(self.r)
        Head = rtmp_struct_types()
        self.m = Head.from_address(int(self.ffi.cast('uintptr_t', self.r)))
        sb = self.m.m_sb
        buf_addr = ctypes.addressof(sb) + type(sb).sb_buf.offset
        if not (sb.sb_socket == self.fd and 0 <= sb.sb_size <= 16384 and self.m.m_inChunkSize >= 1
                and self.m.m_outChunkSize == 128
                and (sb.sb_start or 0) >= buf_addr and (sb.sb_start or 0) <= buf_addr + 16384):
            self.close()
            raise OpError('this librtmp does not have the struct layout of Debian librtmp1 2.4+20151223 '
                          '(cannot see its read buffer); sb_socket=%d fd=%d' % (sb.sb_socket, self.fd))
        self.protocol = scheme
        self.gnutls = None
        if scheme == 'rtmps' and sb.sb_ssl:
            try:
                self.gnutls = ctypes.CDLL('libgnutls.so.30')
                self.gnutls.gnutls_record_check_pending.restype = ctypes.c_size_t
                self.gnutls.gnutls_record_check_pending.argtypes = [ctypes.c_void_p]
            except OSError:
                self.gnutls = None
        self.sock = socket.socket(fileno=os.dup(self.fd))
        self.open = True

    def detach(self):
        if self.on_log is not None:
            try:
                self.lr.remove_log_callback(self.on_log)
            except Exception:
                pass
            self.on_log = None

    # -- reading ---------------------------------------------------------------------------

    def buffered(self):
        """Bytes librtmp has read from the socket but not consumed."""
        return self.m.m_sb.sb_size

    def peek_kernel(self, n):
        try:
            return self.sock.recv(n, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return b''
        except OSError:
            return b''

    def can_read(self, fd_readable):
        """Whether a read can proceed now without waiting for the network for nothing."""
        if not self.open:
            return False
        if not self.http:
            if self.buffered() > 0 or fd_readable:
                return True
            if self.gnutls is not None and self.m.m_sb.sb_ssl:
                return self.gnutls.gnutls_record_check_pending(self.m.m_sb.sb_ssl) > 0
            return False
        return self.rtmpt_mode() is not None

    def rtmpt_mode(self):
        """RTMPT: how to read now. librtmp's reader polls (POST /idle) in a loop until RTMP data
        comes, so a blocking read is only safe when data is known to be on its way: 'block' inside
        a response body or once a response with a non-empty body has begun; 'nonblock' to consume
        empty poll answers / post the next poll (librtmp then stops at EAGAIN before the first
        byte of a chunk, leaving its state intact); None: wait (throttled, or headers in flight)."""
        if time.monotonic() < self.next_read_at:
            return None
        if self.m.m_resplen > 0:
            return 'block'
        sb = self.m.m_sb
        data = (self.ctypes.string_at(sb.sb_start, sb.sb_size) if sb.sb_size > 0 else b'') + self.peek_kernel(1 << 16)
        if not data:
            return 'nonblock' if self.m.m_unackd == 0 else None
        if len(data) < 13:
            return None
        if not data.startswith(b'HTTP/1.1 200 '):
            return 'nonblock'  # librtmp rejects it at once
        end = data.find(b'\r\n\r\n')
        if end < 0:
            return None
        m = re.search(rb'(?i)content-length:\s*(\d+)', data[:end])
        if not m:
            return 'nonblock'
        length = int(m.group(1))
        if length > 1:
            return 'block'
        return 'nonblock' if len(data) >= end + 4 + length else None

    def wait_plan(self):
        """(fd to watch or None, how long select() may sleep or None for as long as it likes)."""
        if not self.open:
            return None, None
        if not self.http:
            if self.can_read(False):
                return self.fd, 0
            return self.fd, None
        now = time.monotonic()
        if now < self.next_read_at:
            return None, self.next_read_at - now
        if self.rtmpt_mode() is not None:
            return self.fd, 0
        if self.peek_kernel(1):
            return None, 0.002  # part of a response is here: check again shortly
        return self.fd, None

    def read_packet(self):
        """One complete message, or None when no more data is available now. Raises Closed."""
        lib, ffi = self.lib, self.ffi
        pkt = ffi.new('RTMPPacket*')
        while True:
            before = self.m.m_nBytesIn
            if self.http and self.rtmpt_mode() == 'nonblock':
                flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
                fcntl.fcntl(self.fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
                try:
                    ok = lib.RTMP_ReadPacket(self.r, pkt)
                finally:
                    if lib.RTMP_IsConnected(self.r):
                        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags)
            else:
                ok = lib.RTMP_ReadPacket(self.r, pkt)
            if not ok:
                if lib.RTMP_IsConnected(self.r) and lib.RTMP_IsTimedout(self.r):
                    if self.m.m_nBytesIn != before:
                        raise Closed('read timed out in the middle of a chunk (%s)' %
                                     ('the RTMPT data stopped mid-chunk' if self.http else 'the peer stalled mid-chunk'))
                    if self.http:
                        self.next_read_at = time.monotonic() + self.poll_interval
                    return None
                raise Closed(self.last_error('connection closed by the server'))
            if pkt.m_nBytesRead == pkt.m_nBodySize:
                break
            # a multi-chunk message: go on only if more data can be read now (librtmp keeps the
            # partial message in its channel state between calls)
            if not self.can_read(self.fd_readable()):
                return None
        msg = {
            'type': pkt.m_packetType,
            'channel': pkt.m_nChannel,
            'streamId': pkt.m_nInfoField2,
            'timestamp': pkt.m_nTimeStamp,
            'body': bytes(ffi.buffer(pkt.m_body, pkt.m_nBodySize)) if pkt.m_nBodySize else b'',
        }
        if msg['type'] in (1, 4, 5, 6):
            # chunk size, user control (ping -> pong), window ack size, peer bandwidth
            lib.RTMP_ClientPacket(self.r, pkt)
        lib.RTMPPacket_Free(pkt)
        return msg

    def fd_readable(self):
        try:
            return bool(select.select([self.fd], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def last_error(self, default):
        lines = [l for l in self.logs[-10:] if l.strip()]
        return default + (': ' + ' | '.join(lines[-3:]) if lines else '')

    # -- writing ---------------------------------------------------------------------------

    def send(self, mtype, body, channel=3, fmt=1, stream_id=0, timestamp=0):
        if not self.open:
            raise OpError('not connected')
        pkt = self.lr.RTMPPacket(type=mtype, format=fmt, channel=channel, timestamp=timestamp, body=body)
        pkt.packet.m_nInfoField2 = stream_id
        if not self.lib.RTMP_SendPacket(self.r, pkt.packet, 0):
            raise OpError(self.last_error('sending failed'))

    def set_out_chunk_size(self, size):
        self.m.m_outChunkSize = size

    def close(self):
        self.open = False
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        if self.rtmp is not None:
            try:
                self.rtmp.close()
            except Exception:
                pass
        self.detach()


# ---------------------------------------------------------------------------------------------
# The driver


def hexbody(b):
    return bytes(b).hex()


class Driver:
    def __init__(self):
        self.conn = None
        self.pending = {}  # txid -> request id
        self.connect_id = None
        self.connect_info = None
        self.next_txid = 2
        self.stdin_eof = False
        self.inbuf = b''

    def respond(self, rid, result=None, error=None):
        if error is not None:
            emit({'id': rid, 'ok': False, 'error': error})
        else:
            emit({'id': rid, 'ok': True, 'result': result})

    # -- requests --------------------------------------------------------------------------

    def handle_line(self, line):
        line = line.strip()
        if not line:
            return
        try:
            req = json.loads(line)
        except ValueError as e:
            log_err('bad request line %r: %s' % (line[:200], e))
            emit({'id': None, 'ok': False, 'error': 'bad JSON: %s' % e})
            return
        rid = req.get('id')
        op = req.get('op')
        try:
            fn = getattr(self, 'op_' + str(op), None)
            if fn is None:
                raise OpError('unknown op %r' % (op,))
            fn(rid, req)
        except (OpError, AmfError, ValueError, TypeError, KeyError) as e:
            self.respond(rid, error='%s: %s' % (type(e).__name__, e) if not isinstance(e, OpError) else str(e))
        except Closed as e:
            self.on_closed('server', str(e))
            self.respond(rid, error='connection closed: %s' % e)
        except Exception as e:  # a bug here: keep going, say it loudly
            log_err(traceback.format_exc())
            self.respond(rid, error='internal error: %s: %s' % (type(e).__name__, e))

    def op_ping(self, rid, req):
        self.respond(rid, {'pong': True})

    def op_encode(self, rid, req):
        self.respond(rid, {'hex': encode_values(req.get('values', []), int(req.get('encoding', 0)), req.get('refs', True)).hex()})

    def op_decode(self, rid, req):
        vals = decode_values(bytes.fromhex(req['hex']), int(req.get('encoding', 0)))
        self.respond(rid, {'values': [to_json(v) for v in vals]})

    def op_encode_message(self, rid, req):
        mtype = int(req.get('type', 20))
        values = req.get('values', [])
        if len(values) < 3:
            raise OpError('encode_message needs [name, txid, commandObject, ...args]')
        body = encode_command(mtype, values[0], values[1], values[2], values[3:], int(req.get('argEncoding', 3 if mtype == 17 else 0)),
                              req.get('refs', True), req.get('amf3Context', 'message'))
        self.respond(rid, {'hex': body.hex()})

    def op_decode_message(self, rid, req):
        vals = decode_message(int(req.get('type', 20)), bytes.fromhex(req['hex']))
        self.respond(rid, {'values': [to_json(v) for v in vals]})

    def need_conn(self):
        if self.conn is None or not self.conn.open:
            raise OpError('not connected')
        return self.conn

    def op_connect(self, rid, req):
        if self.conn is not None and self.conn.open:
            raise OpError('already connected')
        self.pending = {}
        self.next_txid = 2
        self.conn = Connection(req)
        self.connect_id = rid
        self.connect_info = {'handshake': self.conn.handshake, 'protocol': self.conn.protocol,
                             'objectEncoding': self.conn.object_encoding}
        self.pending[1] = rid

    def op_call(self, rid, req):
        c = self.need_conn()
        method = req.get('method')
        if not isinstance(method, str):
            raise OpError('call needs a "method"')
        responder = bool(req.get('responder', True))
        if 'txid' in req:
            txid = req['txid']
        elif responder:
            txid = self.next_txid
            self.next_txid += 1
        else:
            txid = 0
        mtype = int(req.get('type', 17 if c.object_encoding == 3 else 20))
        arg_enc = int(req.get('argEncoding', c.object_encoding))
        body = encode_command(mtype, method, txid, req.get('commandObject'), req.get('args', []), arg_enc,
                              req.get('refs', True), req.get('amf3Context', 'message'))
        if responder:
            if txid in self.pending:
                raise OpError('transaction %r is already waiting for a reply' % (txid,))
            self.pending[txid] = rid
        try:
            c.send(mtype, body, int(req.get('channel', 3)), int(req.get('format', 1)), int(req.get('streamId', 0)))
        except Exception:
            self.pending.pop(txid, None)
            raise
        if not responder:
            self.respond(rid, {'txid': txid, 'type': mtype, 'body': body.hex()})

    def op_reply(self, rid, req):
        c = self.need_conn()
        mtype = int(req.get('type', 17 if c.object_encoding == 3 else 20))
        arg_enc = int(req.get('argEncoding', c.object_encoding))
        body = encode_command(mtype, req.get('name', '_result'), req['txid'], req.get('commandObject'), req.get('values', []), arg_enc,
                              req.get('refs', True))
        c.send(mtype, body, int(req.get('channel', 3)), int(req.get('format', 1)), int(req.get('streamId', 0)))
        self.respond(rid, {'type': mtype, 'body': body.hex()})

    def op_raw(self, rid, req):
        c = self.need_conn()
        body = bytes.fromhex(req.get('body', ''))
        c.send(int(req['type']), body, int(req.get('channel', 3)), int(req.get('format', 1)), int(req.get('streamId', 0)),
               int(req.get('timestamp', 0)))
        self.respond(rid, {})

    def op_set_chunk_size(self, rid, req):
        c = self.need_conn()
        size = int(req['size'])
        if not 1 <= size <= 0x7FFFFFFF:
            raise OpError('chunk size out of range')
        c.send(1, struct.pack('>I', size), channel=2, fmt=1)
        c.set_out_chunk_size(size)
        self.respond(rid, {'size': size})

    def op_status(self, rid, req):
        c = self.conn
        if c is None or not c.open:
            self.respond(rid, {'connected': False})
            return
        self.respond(rid, {'connected': True, 'handshake': c.handshake, 'protocol': c.protocol,
                           'inChunkSize': c.m.m_inChunkSize, 'outChunkSize': c.m.m_outChunkSize,
                           'bytesIn': c.m.m_nBytesIn, 'pending': sorted(self.pending.keys())})

    def op_close(self, rid, req):
        if self.conn is not None and self.conn.open:
            self.conn.close()
            self.on_closed('client', 'closed by the test')
        self.respond(rid, {})

    # -- connection events -----------------------------------------------------------------

    def on_closed(self, by, reason):
        if self.conn is not None:
            self.conn.close()
        pend, self.pending = self.pending, {}
        for txid, rid in pend.items():
            if txid == 1 and rid == self.connect_id:
                self.respond(rid, error='connection closed before the connect reply: %s' % reason)
            else:
                self.respond(rid, error='connection closed before the reply to transaction %s: %s' % (txid, reason))
        if self.conn is not None and not getattr(self.conn, 'closed_emitted', False):
            self.conn.closed_emitted = True
            emit({'event': 'closed', 'by': by, 'reason': reason})

    def dispatch(self, msg):
        t = msg['type']
        body = msg['body']
        if t in (20, 17, 18, 15):
            try:
                vals = decode_message(t, body)
                if t in (20, 17):
                    if len(vals) < 2 or not isinstance(vals[0], str) or isinstance(vals[1], bool) or not isinstance(vals[1], (int, float)):
                        raise AmfError('a command message must start with a name and a transaction id')
                else:
                    if len(vals) < 1 or not isinstance(vals[0], str):
                        raise AmfError('a data message must start with a name')
                jvals = [to_json(v) for v in vals]
            except AmfError as e:
                emit({'event': 'error', 'message': 'undecodable type-%d message: %s' % (t, e), 'type': t, 'body': hexbody(body)})
                return
            if t in (18, 15):
                emit({'event': 'data', 'name': jvals[0], 'args': jvals[1:], 'type': t, 'body': hexbody(body), 'streamId': msg['streamId']})
                return
            name = jvals[0]
            txid = jvals[1]
            cmd = jvals[2] if len(jvals) > 2 else {'$undefined': True}
            rest = jvals[3:]
            if name in ('_result', '_error') and txid in self.pending:
                rid = self.pending.pop(txid)
                result = {'name': name, 'txid': txid, 'commandObject': cmd, 'values': rest, 'type': t, 'body': hexbody(body)}
                if rid == self.connect_id and txid == 1:
                    result.update(self.connect_info)
                    self.connect_id = None
                self.respond(rid, result)
                return
            emit({'event': 'invoke', 'name': name, 'txid': txid, 'commandObject': cmd, 'args': rest, 'type': t,
                  'body': hexbody(body), 'streamId': msg['streamId']})
            return
        emit({'event': 'packet', 'type': t, 'channel': msg['channel'], 'streamId': msg['streamId'],
              'timestamp': msg['timestamp'], 'body': hexbody(body)})

    # -- main loop -------------------------------------------------------------------------

    def pump(self, fd_readable):
        c = self.conn
        for _ in range(256):
            if c is None or not c.open:
                return
            if not c.can_read(fd_readable):
                return
            try:
                msg = c.read_packet()
            except Closed as e:
                self.on_closed('server', str(e))
                return
            if msg is None:
                return
            self.dispatch(msg)
            fd_readable = c.fd_readable()

    def run(self):
        while True:
            c = self.conn if self.conn is not None and self.conn.open else None
            if self.stdin_eof:
                if c is not None:
                    c.close()
                return
            rlist = [0]
            timeout = None
            if c is not None:
                fd, timeout = c.wait_plan()
                if fd is not None:
                    rlist.append(fd)
            try:
                ready = select.select(rlist, [], [], timeout)[0]
            except InterruptedError:
                continue
            if 0 in ready:
                data = os.read(0, 1 << 16)
                if not data:
                    self.stdin_eof = True
                else:
                    self.inbuf += data
                    while b'\n' in self.inbuf:
                        line, self.inbuf = self.inbuf.split(b'\n', 1)
                        self.handle_line(line.decode('utf-8', 'replace'))
            c = self.conn if self.conn is not None and self.conn.open else None
            if c is not None:
                self.pump(c.fd in ready)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--check':
        librtmp_module()
        emit({'ok': True, 'python': sys.executable, 'librtmp': '%x' % _lr.librtmp_version})
        return 0
    try:
        Driver().run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
