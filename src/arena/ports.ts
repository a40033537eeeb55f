import type { Vote } from './elo.js';

/** Where arena votes are kept. */
export interface VoteStore {
  addVote(v: Vote & { readonly keyId: string | undefined }): Promise<void>;
  /** Every vote, oldest first. */
  votes(): Promise<Vote[]>;
}
