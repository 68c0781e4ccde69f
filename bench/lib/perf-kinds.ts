/**
 * Sorts `perf report --sort dso,sym` lines into kinds of work — the kernel (the TCP stack and the
 * scheduler), TLS (OpenSSL and node's TLS glue), our JavaScript, V8's builtins and runtime, garbage
 * collection, libuv and node's C++, the C library — so a CPU miss can be read as "where the
 * microseconds per message go".
 */

export interface KindShare {
  kind: string;
  percent: number;
}

const KINDS: Array<[kind: string, test: (dso: string, sym: string) => boolean]> = [
  ['kernel: scheduler and wake-ups', (d, s) => d === '[kernel.kallsyms]' && /finish_task_switch|_raw_spin_unlock_irq|try_to_wake_up|schedule|select_task_rq|enqueue_task|dequeue_task|update_curr|psi_/.test(s)],
  ['kernel: TCP/IP, system calls, epoll', (d) => d === '[kernel.kallsyms]'],
  ['TLS (OpenSSL, node TLSWrap)', (d, s) =>
    d === 'node' && /^(ssl|SSL|tls|TLS|EVP_|aes|AES|_?aesni|gcm|GCM|ghash|CRYPTO|ossl|OPENSSL|BIO|ERR_|RAND|sha\d|SHA\d|ChaCha|chacha|Poly1305|poly1305|bn_|BN_|OBJ_|ASN1|x25519|ecp_|do_ssl3|ssl3|dtls|WPACKET|PACKET|OSSL|node::crypto::)/.test(s)],
  ['garbage collection', (d, s) => d === 'node' && /v8::internal::(.*(Scaveng|MarkCompact|Marking|Sweep|Evacuat|Heap::|GCTracer|Minor|ConcurrentMark|Compaction|Remembered|SlotSet|MemoryChunk|PagedSpace|NewSpace|LargeObject|Semi))/.test(s)],
  ['our JavaScript and node\'s (JIT code)', (d) => d.startsWith('[JIT]') || d.startsWith('perf-')],
  ['V8 builtins, inline caches, runtime', (d, s) => d === 'node' && /^(Builtins_|v8::|Runtime_|std::|Builtin)/.test(s)],
  ['libuv and node C++ (streams, sockets)', (d, s) => d === 'node' && /^(uv_|uv__|node::)/.test(s)],
  ['C library (malloc, memcpy, …)', (d) => /^libc[.-]/.test(d) || /^ld-linux/.test(d)],
  ['other', () => true],
];

/** Parses `perf report --stdio --sort dso,sym` output (percent, dso, [k]/[.], symbol). */
export function perfKinds(report: string): KindShare[] {
  const totals = new Map<string, number>(KINDS.map(([k]) => [k, 0]));
  for (const line of report.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[[.k]\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pct, dso, sym] = m as unknown as [string, string, string, string];
    const kind = KINDS.find(([, test]) => test(dso, sym.trim()))![0];
    totals.set(kind, (totals.get(kind) ?? 0) + Number(pct));
  }
  return [...totals.entries()].map(([kind, percent]) => ({ kind, percent })).filter((k) => k.percent > 0);
}

/** The kinds as a table, with µs per message when the CPU time per message is known. */
export function perfKindsTable(kinds: KindShare[], usPerMsg?: number): string {
  const rows = kinds.map(({ kind, percent }) => `| ${kind} | ${percent.toFixed(1)} % |${usPerMsg ? ` ${((percent / 100) * usPerMsg).toFixed(1)} µs |` : ''}`);
  return [`| kind of work | share of samples |${usPerMsg ? ' µs per message |' : ''}`, `|---|---:|${usPerMsg ? '---:|' : ''}`, ...rows].join('\n');
}
