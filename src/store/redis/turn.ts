import type { BackgroundWrites } from '../background.js';

/**
 * What one event-loop turn asks of the shared store, sent as one call at its end: questions the
 * request path waits for (admissions: `ask`, answered each in order) and writes it does not
 * (settles, token corrections: `write`). Under load, every request that arrived or ended in a
 * turn costs one round trip and one script run between them, not one or two each. Writes alone
 * wait a little (`writeDelayMs`) for a question to ride with, or for more writes: a replica
 * admitting from its grants asks nothing, and its settles then cost a call every few
 * milliseconds, not one per turn. When the call fails, every question in it fails with its error and its writes are counted as failed (by
 * `background`, which also lets shutdown wait for them).
 */
export class Turn<Q, A, W> {
  private questions: { readonly q: Q; readonly resolve: (a: A) => void; readonly reject: (err: unknown) => void }[] = [];
  private writes: W[] = [];
  private scheduled = false;

  constructor(
    private readonly background: BackgroundWrites,
    private readonly call: (questions: Q[], writes: W[]) => Promise<A[]>,
    /** At most this many questions, and writes, in one call: one script run holds Redis for all of them. */
    private readonly max = { questions: 200, writes: 1000 },
    /** How long writes wait for a question (what they hold back stays held meanwhile: never more than it is). */
    private readonly writeDelayMs = 20,
  ) {}

  private later: NodeJS.Timeout | undefined;

  ask(q: Q): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.questions.push({ q, resolve, reject });
      if (this.questions.length >= this.max.questions) this.send();
      else this.schedule();
    });
  }

  write(w: W): void {
    this.writes.push(w);
    if (this.writes.length >= this.max.writes) this.send();
    else if (!this.scheduled && !this.later) this.later = setTimeout(() => this.send(), this.writeDelayMs);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  /** Starts the call for what is queued now (at the end of the turn; at once when full, or at shutdown). */
  send(): void {
    this.scheduled = false;
    if (this.later) {
      clearTimeout(this.later);
      this.later = undefined;
    }
    if (this.questions.length === 0 && this.writes.length === 0) return;
    const questions = this.questions;
    const writes = this.writes;
    this.questions = [];
    this.writes = [];
    let answers: Promise<A[]>;
    try {
      answers = this.call(
        questions.map((x) => x.q),
        writes,
      );
    } catch (err) {
      answers = Promise.reject(err);
    }
    if (writes.length) this.background.run(() => answers, writes.length);
    answers
      .then((as) => {
        if (as.length !== questions.length) throw new Error(`expected ${questions.length} answers, got ${as.length}`);
        questions.forEach((x, i) => x.resolve(as[i]!));
      })
      .catch((err: unknown) => {
        for (const x of questions) x.reject(err);
      });
  }
}
