/** One sequence of connection ids across every listener, so log lines never collide. */
let next = 1;

export function nextConnectionId(): number {
  return next++;
}
