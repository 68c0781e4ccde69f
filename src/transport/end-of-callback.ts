/**
 * Where output is gathered: `AT_END_OF_CALLBACK.then(flush)` runs `flush` once the current I/O
 * callback and the microtasks before it are done — every stanza parsed from one read has been
 * handled — like queueMicrotask(), but without the AsyncResource Node makes for each of those,
 * and unlike process.nextTick() without a tick for Node to process (docs/performance.md).
 */
export const AT_END_OF_CALLBACK: Promise<void> = Promise.resolve();
