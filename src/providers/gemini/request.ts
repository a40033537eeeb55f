import { HubError } from '../../core/errors.js';
import type { ChatRequest, ImagePart, Message, ReasoningEffort, TextPart, ToolCall, ToolChoice } from '../../core/types.js';
import { isEmptyObjectSchema, toGeminiSchema } from './schema.js';
import type {
  GeminiContent,
  GeminiCountTokensRequest,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRequest,
  GeminiToolConfig,
} from './wire.js';
import { METADATA_KEY } from './wire.js';

/**
 * The value the Gemini API documents (thought-signatures FAQ) for a function call that did not come
 * from the model in this exact form — history written by another model or by a client that keeps
 * no signatures. Gemini 3 rejects a function call of the current turn without a signature (400);
 * with this value it skips the check instead.
 */
export const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

/** Thinking budgets (tokens) for a requested effort. 512 is inside every 2.5 model's range. */
export const EFFORT_BUDGET: Readonly<Record<ReasoningEffort, number>> = {
  minimal: 512,
  low: 1024,
  medium: 8192,
  high: 24576,
};

/**
 * Canonical request → `GenerateContentRequest` body (pure; `extra` is not sent: it belongs to
 * other wire families).
 *
 * - System messages, wherever they are, are joined (blank line between) into `systemInstruction`.
 * - user → role `user`: text parts; a `data:` image → `inlineData`, any other URL → `fileData`
 *   (the API fetches public and signed https URLs) with a MIME type guessed from the extension,
 *   left out when the extension says nothing (the field is optional there).
 * - assistant → role `model`: reasoning text is not sent (Gemini takes no thoughts back), only the
 *   signatures (see below); then the text; then one `functionCall` {id, name, args} per tool call.
 *   Arguments that are not a JSON object (empty or broken model output) are sent as `{}`.
 * - tool → role `user` part `functionResponse` {id, name, response}. The name is the one of the
 *   earlier assistant tool call with that id. The response is always wrapped, as the API reads
 *   it: `{output: X}`, or `{error: X}` for a failed call, where X is the parsed object when the
 *   content is a JSON object's text and the content string otherwise.
 * - Consecutive contents of the same role are merged, so parallel tool results become one content
 *   with several functionResponse parts, as the API requires.
 *
 * Thought signatures. Gemini puts an opaque `thoughtSignature` on response parts (on the first
 * functionCall of each step, or on the last part of an answer without calls) and requires it back
 * on the same part. The decoder (response.ts) turns each one into a reasoning event carrying only
 * the signature, right before the events of its part, so canonical history keeps it as
 * `providerMetadata.gemini.signature` of a reasoning part. Here the assistant message's Gemini
 * signatures (no other family's) go back, in order, onto its functionCall parts (the first
 * signature on the first call); a message without tool calls gives its last signature to its text
 * part. A message whose first call would still carry none (history from another model, or a
 * client that drops reasoning) gets `SKIP_THOUGHT_SIGNATURE` there.
 */
export function chatRequestToGemini(r: ChatRequest): GeminiRequest {
  const system: string[] = [];
  const contents: GeminiContent[] = [];
  const callNames = new Map<string, string>();

  const push = (role: 'user' | 'model', parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };

  r.messages.forEach((m, i) => {
    switch (m.role) {
      case 'system':
        if (m.content !== '') system.push(m.content);
        return;
      case 'user':
        push('user', m.content.map(userPart).filter((p): p is GeminiPart => p !== undefined));
        return;
      case 'assistant':
        for (const c of m.toolCalls ?? []) callNames.set(c.id, c.name);
        push('model', assistantParts(m));
        return;
      case 'tool': {
        const name = callNames.get(m.toolCallId);
        if (name === undefined) {
          throw new HubError('bad_request', `Tool result ${JSON.stringify(m.toolCallId)} does not answer any earlier tool call`, {
            param: `messages[${i}]`,
          });
        }
        const value = jsonObjectOr(m.content);
        push('user', [{ functionResponse: { id: m.toolCallId, name, response: m.isError ? { error: value } : { output: value } } }]);
        return;
      }
    }
  });

  const body: GeminiRequest = { contents };
  if (system.length > 0) body.systemInstruction = { parts: [{ text: system.join('\n\n') }] };
  if (r.tools?.length) {
    body.tools = [
      {
        functionDeclarations: r.tools.map((t) => {
          const parameters = toGeminiSchema(t.parameters);
          return {
            name: t.name,
            ...(t.description !== undefined && { description: t.description }),
            // "For function with no parameters, this can be left unset"; an empty OBJECT is rejected.
            ...(!isEmptyObjectSchema(parameters) && { parameters }),
          };
        }),
      },
    ];
    if (r.toolChoice !== undefined) body.toolConfig = toolConfig(r.toolChoice);
  }
  const generationConfig = generationConfigOf(r);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  return body;
}

/** The `countTokens` body for a whole request: prompt, system instruction and tools. */
export function countTokensRequest(r: ChatRequest): GeminiCountTokensRequest {
  const { generationConfig: _unused, ...prompt } = chatRequestToGemini(r);
  return { generateContentRequest: { model: `models/${modelId(r.model)}`, ...prompt } };
}

/** The model id as the path wants it (`gemini-2.5-flash`), whether or not it came as `models/…`. */
export function modelId(model: string): string {
  return model.startsWith('models/') ? model.slice('models/'.length) : model;
}

function userPart(p: TextPart | ImagePart): GeminiPart | undefined {
  if (p.type === 'text') return p.text === '' ? undefined : { text: p.text };
  const inline = parseDataURL(p.url);
  if (inline) return { inlineData: inline };
  const mimeType = mimeFromExtension(p.url);
  return { fileData: { ...(mimeType && { mimeType }), fileUri: p.url } };
}

function assistantParts(m: Extract<Message, { role: 'assistant' }>): GeminiPart[] {
  // Only Gemini's own signatures go back; one made by another family would be rejected.
  const signatures = (m.reasoning ?? []).flatMap((r) => {
    const sig = r.providerMetadata?.[METADATA_KEY]?.signature;
    return sig ? [sig] : [];
  });
  const parts: GeminiPart[] = [];
  const calls = m.toolCalls ?? [];
  if (m.content !== '') {
    const sig = calls.length === 0 ? signatures[signatures.length - 1] : undefined;
    parts.push({ text: m.content, ...(sig && { thoughtSignature: sig }) });
  }
  calls.forEach((c, i) => {
    const sig = signatures[i] ?? (i === 0 ? SKIP_THOUGHT_SIGNATURE : undefined);
    parts.push({ functionCall: { id: c.id, name: c.name, args: argsOf(c) }, ...(sig && { thoughtSignature: sig }) });
  });
  return parts;
}

function argsOf(c: ToolCall): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(c.arguments);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // Empty or truncated model output.
  }
  return {};
}

function jsonObjectOr(text: string): unknown {
  const t = text.trimStart();
  if (!t.startsWith('{')) return text;
  try {
    const v: unknown = JSON.parse(t);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : text;
  } catch {
    return text;
  }
}

function toolConfig(c: ToolChoice): GeminiToolConfig {
  if (c === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (c === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (c === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [c.name] } };
}

function generationConfigOf(r: ChatRequest): GeminiGenerationConfig {
  const g: GeminiGenerationConfig = {};
  if (r.stop?.length) g.stopSequences = [...r.stop];
  if (r.responseFormat?.type === 'json_object') g.responseMimeType = 'application/json';
  if (r.responseFormat?.type === 'json_schema') {
    g.responseMimeType = 'application/json';
    g.responseSchema = toGeminiSchema(r.responseFormat.schema);
  }
  if (r.n !== undefined) g.candidateCount = r.n;
  if (r.maxTokens !== undefined) g.maxOutputTokens = r.maxTokens;
  if (r.temperature !== undefined) g.temperature = r.temperature;
  if (r.topP !== undefined) g.topP = r.topP;
  if (r.topK !== undefined) g.topK = r.topK;
  if (r.seed !== undefined) g.seed = r.seed;
  if (r.reasoning) {
    const budget = r.reasoning.budgetTokens ?? (r.reasoning.effort && EFFORT_BUDGET[r.reasoning.effort]);
    g.thinkingConfig = { includeThoughts: true, ...(budget !== undefined && { thinkingBudget: budget }) };
  }
  return g;
}

/** `data:<mime>[;base64],<data>` → inline bytes, base64 as the API wants them. */
function parseDataURL(url: string): { mimeType: string; data: string } | undefined {
  if (!url.startsWith('data:')) return undefined;
  const comma = url.indexOf(',');
  if (comma === -1) return undefined;
  const meta = url.slice(5, comma).split(';');
  const mimeType = meta[0] || 'application/octet-stream';
  const payload = url.slice(comma + 1);
  if (meta.includes('base64')) return { mimeType, data: payload };
  let bytes: string;
  try {
    bytes = decodeURIComponent(payload);
  } catch {
    bytes = payload;
  }
  return { mimeType, data: Buffer.from(bytes, 'utf8').toString('base64') };
}

const MIME_BY_EXTENSION: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  gif: 'image/gif',
  pdf: 'application/pdf',
};

function mimeFromExtension(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url;
  }
  const dot = path.lastIndexOf('.');
  return dot === -1 ? undefined : MIME_BY_EXTENSION[path.slice(dot + 1).toLowerCase()];
}
