/**
 * Questions asked in one event-loop turn and sent as one (`ask` gets them all, answers each in
 * order): under load, the admissions of every request that arrived in a turn cost one round trip
 * and one script run, not one each. When the call fails, every question in it fails with its error.
 */
export class PerTurn<Q, A> {
  private queued: { readonly q: Q; readonly resolve: (a: A) => void; readonly reject: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly ask: (questions: Q[]) => Promise<A[]>,
    /** At most this many in one call: one script run holds Redis for all of them. */
    private readonly max = 200,
  ) {}

  add(q: Q): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.queued.push({ q, resolve, reject });
      if (this.queued.length >= this.max) this.send();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.send());
      }
    });
  }

  private send(): void {
    this.scheduled = false;
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    let answers: Promise<A[]>;
    try {
      answers = this.ask(batch.map((b) => b.q));
    } catch (err) {
      answers = Promise.reject(err);
    }
    answers.then(
      (as) => {
        if (as.length !== batch.length) throw new Error(`expected ${batch.length} answers, got ${as.length}`);
        batch.forEach((b, i) => b.resolve(as[i]!));
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err);
      },
    ).catch((err: unknown) => {
      for (const b of batch) b.reject(err);
    });
  }
}
