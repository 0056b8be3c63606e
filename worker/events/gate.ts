// How many deliveries of one hook a worker process sends at once (WEBHOOK_HOOK_CONCURRENCY).
// A receiver that hangs holds each of its deliveries for the whole timeout; without a cap
// per hook, enough of its runs would take every slot and other hooks would wait for it.

export class HookGate {
  private readonly inFlight = new Map<string, number>();
  constructor(private readonly perHook: number) {}

  /** Takes a slot for the hook; false when it already has perHook in flight here. */
  tryEnter(hookId: bigint): boolean {
    const k = hookId.toString();
    const n = this.inFlight.get(k) ?? 0;
    if (n >= this.perHook) return false;
    this.inFlight.set(k, n + 1);
    return true;
  }

  leave(hookId: bigint): void {
    const k = hookId.toString();
    const n = (this.inFlight.get(k) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(k);
    else this.inFlight.set(k, n);
  }
}
