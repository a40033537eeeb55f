/** One blind comparison: which of two answers the user preferred. */
export interface Vote {
  readonly modelA: string;
  readonly modelB: string;
  /** `bad` (both answers bad) says nothing about which model is better: the scores leave it out. */
  readonly winner: 'a' | 'b' | 'tie' | 'bad';
}

/** Where arena votes are kept. */
export interface VoteStore {
  addVote(v: Vote & { readonly keyId: string | undefined }): Promise<void>;
  /** Every vote, oldest first. */
  votes(): Promise<Vote[]>;
}
