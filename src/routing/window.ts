/**
 * Counts over the last minute in one-second buckets: cheap enough to check on every request,
 * precise enough for RPM and TPM caps.
 */
export class MinuteWindow {
  private readonly buckets = new Float64Array(60);
  private readonly stamps = new Float64Array(60);

  constructor(private readonly now: () => number = Date.now) {}

  add(n: number): void {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % 60;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i]! += n;
  }

  /** Seconds until the oldest counted second leaves the window (at least 1). */
  secondsUntilDrop(): number {
    const sec = Math.floor(this.now() / 1000);
    let oldest = sec;
    for (let i = 0; i < 60; i++) if (sec - this.stamps[i]! < 60 && this.buckets[i]! > 0 && this.stamps[i]! < oldest) oldest = this.stamps[i]!;
    return Math.max(1, oldest + 60 - sec);
  }

  total(): number {
    const sec = Math.floor(this.now() / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) if (sec - this.stamps[i]! < 60) sum += this.buckets[i]!;
    return sum;
  }
}
