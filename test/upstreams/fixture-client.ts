/**
 * What the fixtures' own tests (openai/anthropic/gemini.test.ts) do the same way over plain fetch:
 * read JSON loosely, read a body the upstream cuts on purpose, and leave a request early and check
 * the upstream counted it as a client leaving.
 */
import { expect } from 'vitest';

/** `Response.json()` is typed `unknown`; the fixture's bodies are checked field by field anyway. */
export async function json(res: Response | Promise<Response>): Promise<any> {
  return (await res).json();
}

/** Reads a body until it ends or is cut: the text that arrived, and the error that ended it (if any). */
export async function readUntilCut(res: Response): Promise<{ raw: string; err: unknown }> {
  const reader = res.body!.getReader();
  let raw = '';
  const err = await (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return undefined;
      raw += Buffer.from(value).toString('utf8');
    }
  })().catch((e: unknown) => e);
  return { raw, err };
}

interface CountsAborts {
  aborted(): number;
}

/** Sends a request the upstream never answers, leaves after 100 ms, and expects one abort counted. */
export async function expectLeavingHangCounted(up: CountsAborts, send: (signal: AbortSignal) => Promise<Response>): Promise<void> {
  const before = up.aborted();
  const controller = new AbortController();
  const pending = send(controller.signal);
  await new Promise((r) => setTimeout(r, 100));
  controller.abort();
  await expect(pending).rejects.toThrow();
  await expect.poll(() => up.aborted(), { timeout: 3000 }).toBe(before + 1);
}

/** Starts a slow stream, leaves after its first chunk, and expects one abort counted. */
export async function expectLeavingStreamCounted(up: CountsAborts, send: (signal: AbortSignal) => Promise<Response>): Promise<void> {
  const before = up.aborted();
  const controller = new AbortController();
  const res = await send(controller.signal);
  await res.body!.getReader().read();
  controller.abort();
  await expect.poll(() => up.aborted(), { timeout: 3000 }).toBe(before + 1);
}
