/**
 * A request's cancellation. An AbortSignal takes microseconds to make and more to listen to, and
 * almost no request is ever canceled, so this one is plain fields and an array: undici accepts
 * it as its `signal` (it listens the EventEmitter way), and a real AbortSignal is made only when
 * something asks for `signal` (a Model, fetch).
 */
export class Cancel {
  aborted = false;
  reason: unknown = undefined;
  /** Whether `timeout()` (not the parent or the client) ended it. */
  timedOut = false;
  private listeners: (() => void)[] | undefined;
  private children: Cancel[] | undefined;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Stops following the parent: a long-lived parent (an eval run's signal) must not keep every finished child. */
  private unfollow: (() => void) | undefined;

  /** With a parent, it is canceled when the parent is, and finished when the parent is. */
  constructor(parent?: Cancel | AbortSignal) {
    if (!parent) return;
    if (parent.aborted) {
      this.aborted = true;
      this.reason = parent.reason;
    } else if (parent instanceof Cancel) {
      const onAbort = () => this.abort(parent.reason);
      parent.once('abort', onAbort);
      (parent.children ??= []).push(this);
      this.unfollow = () => {
        parent.removeListener('abort', onAbort);
        const i = parent.children?.indexOf(this) ?? -1;
        if (i >= 0) parent.children!.splice(i, 1);
      };
    } else {
      const onAbort = () => this.abort(parent.reason);
      parent.addEventListener('abort', onAbort, { once: true });
      this.unfollow = () => parent.removeEventListener('abort', onAbort);
    }
  }

  /** An AbortSignal that follows this cancellation, made on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    clearTimeout(this.timer);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l();
    this.controller?.abort(reason);
  }

  /** Calls `fn` once, on abort. */
  once(_event: 'abort', fn: () => void): this {
    if (!this.aborted) (this.listeners ??= []).push(fn);
    return this;
  }

  /** The same as `once` (abort happens once); undici checks that `on` exists. */
  on(event: 'abort', fn: () => void): this {
    return this.once(event, fn);
  }

  removeListener(_event: 'abort', fn: () => void): this {
    const i = this.listeners?.indexOf(fn) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
    return this;
  }

  /** Cancels after `ms` unless finished first. */
  timeout(ms: number): void {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.abort();
    }, ms);
    this.timer.unref();
  }

  /** The work is over: its timer and listeners go (its children's too). */
  finish(): void {
    clearTimeout(this.timer);
    this.listeners = undefined;
    this.unfollow?.();
    this.unfollow = undefined;
    const children = this.children;
    this.children = undefined;
    if (children) for (const c of children) c.finish();
  }
}
