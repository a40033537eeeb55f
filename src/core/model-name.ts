/**
 * Model names come from clients, so their length is bounded before anything looks them up,
 * echoes them or stores them. The longest real ids are a few times shorter than the limit:
 * fine-tunes (`ft:gpt-4o-mini-2024-07-18:my-org:custom-suffix:9AbCdEfG`, ~60), Bedrock
 * inference-profile ARNs (~110), Vertex resource paths and Hugging Face `org/repo:revision`
 * ids behind a provider prefix (up to ~200).
 */
export const MAX_MODEL_NAME = 256;

/** How much of an unknown name an error message or a stored record repeats. */
const SHOWN = 64;

/** `name` cut to `max` characters plus "…" (never splitting a surrogate pair). */
export function shortName(name: string, max = SHOWN): string {
  if (name.length <= max) return name;
  const code = name.charCodeAt(max - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
  return `${name.slice(0, end)}…`;
}

/** The name as a usage record keeps it: whole when it is a valid length, else shortened. */
export function storedModelName(name: string): string {
  return name.length <= MAX_MODEL_NAME ? name : shortName(name);
}

/** What a client is told when its model name is over the limit (the name itself is not repeated). */
export const MODEL_NAME_TOO_LONG = `expected a model name of at most ${MAX_MODEL_NAME} characters`;
