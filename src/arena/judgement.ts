import type { JudgementWinner, NewJudgement } from '../eval/ports.js';

/**
 * A blind vote turned into the human judgement the eval store keeps: the prompt and the two answers
 * as the voter saw them, each bounded so that a vote costs the store at most ~100 KB whatever the
 * models wrote. A longer answer is still a fine vote: it is kept cut, with a marker saying so.
 */

/** UTF-8 bytes kept of the prompt and of each answer. */
export const JUDGEMENT_TEXT_BYTES = 32 * 1024;

/**
 * The most a vote may send per text (UTF-16 units, as the JSON body holds them); beyond it the vote
 * is refused rather than cut: no answer a person read in the console is that long.
 */
export const MAX_VOTE_TEXT = 1024 * 1024;

/** `text` within `max` UTF-8 bytes, the marker included, cut on a character boundary. */
export function boundText(text: string, max = JUDGEMENT_TEXT_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  // The marker names what was dropped; its own length depends on that number, so leave room for the widest.
  const room = max - Buffer.byteLength(marker(bytes.length));
  let cut = Math.max(0, room);
  // Back up to the first byte of a character (continuation bytes are 10xxxxxx).
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.subarray(0, cut).toString('utf8') + marker(bytes.length - cut);
}

function marker(dropped: number): string {
  return `\n…[truncated: ${dropped} more bytes]`;
}

export interface VoteInput {
  readonly models: readonly [string, string];
  readonly winner: JudgementWinner;
  readonly prompt?: string | null | undefined;
  readonly answers?: readonly [string, string] | null | undefined;
}

/** The judgement a validated vote records. */
export function judgementFromVote(v: VoteInput, keyId: string | null, ts: number): NewJudgement {
  const bound = (s: string | null | undefined) => (s === undefined || s === null ? null : boundText(s));
  return {
    ts,
    keyId,
    modelA: v.models[0],
    modelB: v.models[1],
    winner: v.winner,
    prompt: bound(v.prompt),
    answerA: bound(v.answers?.[0]),
    answerB: bound(v.answers?.[1]),
  };
}
