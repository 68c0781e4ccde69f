/** Helpers shared by the AMF0 and AMF3 codec tests. */
import assert from 'node:assert/strict';
import { AmfError, type AmfErrorCode } from '../../src/codec/amf/errors.js';
import {
  AmfByteArray,
  AmfDictionary,
  AmfEcmaArray,
  AmfMixedArray,
  AmfTypedObject,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
  type AmfValue,
} from '../../src/codec/amf/values.js';

/** Bytes from hex strings (spaces ignored) and byte arrays. */
export function b(...parts: (string | Uint8Array)[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p.replace(/\s+/g, ''), 'hex') : p)));
}
export const txt = (s: string): Buffer => Buffer.from(s, 'utf8');
export const hexOf = (u: Uint8Array): string => Buffer.from(u).toString('hex');

/** Asserts `run` throws an AmfError with `code` (and nothing else). */
export function expectCode(run: () => unknown, code: AmfErrorCode, label = ''): AmfError {
  try {
    run();
  } catch (e) {
    if (!(e instanceof AmfError)) throw new Error(`${label}: expected AmfError(${code}), got ${String(e)}`, { cause: e });
    assert.equal(e.code, code, `${label}: ${e.message}`);
    return e;
  }
  assert.fail(`${label}: expected AmfError(${code}), nothing thrown`);
}

/** `run` throws nothing but AmfError; what it decodes has no reachable prototype. */
export function assertOnlyAmfError(run: () => AmfValue): void {
  let v: AmfValue;
  try {
    v = run();
  } catch (e) {
    if (!(e instanceof AmfError)) throw e;
    return;
  }
  assertNoPrototypes(v);
}

/**
 * Every anonymous object and member table in a decoded value has a null prototype, so
 * Object.prototype is unreachable from it (walks shared and cyclic structures once).
 */
export function assertNoPrototypes(v: AmfValue, seen = new Set<object>()): void {
  if (typeof v !== 'object' || v === null || seen.has(v)) return;
  seen.add(v);
  const walk = (x: AmfValue): void => assertNoPrototypes(x, seen);
  if (Array.isArray(v)) v.forEach(walk);
  else if (v instanceof AmfTypedObject) {
    assert.equal(Object.getPrototypeOf(v.members), null);
    Object.values(v.members).forEach(walk);
    if (v.dynamicMembers !== null) {
      assert.equal(Object.getPrototypeOf(v.dynamicMembers), null);
      Object.values(v.dynamicMembers).forEach(walk);
    }
  } else if (v instanceof AmfEcmaArray) [...v.entries.values()].forEach(walk);
  else if (v instanceof AmfMixedArray) [...v.dense, ...v.associative.values()].forEach(walk);
  else if (v instanceof AmfVector) v.items.forEach(walk);
  else if (v instanceof AmfDictionary) [...v.entries].flat().forEach(walk);
  else if (v instanceof Date || v instanceof AmfXml || v instanceof AmfXmlDocument || v instanceof AmfByteArray) return;
  else {
    assert.equal(Object.getPrototypeOf(v), null, 'an anonymous object with a prototype');
    Object.values(v).forEach(walk);
  }
}
