import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGeminiUpstream } from './gemini.js';
import type { GeminiUpstream } from './gemini.js';
import { expectLeavingHangCounted, expectLeavingStreamCounted, json, readUntilCut } from './fixture-client.js';

/** Checks the fixture itself over plain fetch, so a wire mistake here is not blamed on the gateway. */
const KEY = 'AIzaFixtureKey0123456789abcdefghijklmno';
let up: GeminiUpstream;

beforeAll(async () => {
  up = await startGeminiUpstream({ apiKey: KEY, slowFirstByteMs: 200 });
});

afterAll(async () => {
  await up?.close();
});

const headers = { 'x-goog-api-key': KEY, 'content-type': 'application/json' };

function user(...texts: string[]) {
  return { role: 'user', parts: texts.map((text) => ({ text })) };
}

function req(body: Record<string, unknown> = {}) {
  return { contents: [user('hi')], ...body };
}

function call(model: string, method: string, body: unknown, init: RequestInit = {}, query = '') {
  return fetch(`${up.baseURL}/models/${model}:${method}${query}`, { method: 'POST', headers, body: JSON.stringify(body), ...init });
}

const generate = (model: string, body: unknown = req(), init?: RequestInit) => call(model, 'generateContent', body, init);
const streamSse = (model: string, body: unknown = req(), init?: RequestInit) => call(model, 'streamGenerateContent', body, init, '?alt=sse');
const streamArray = (model: string, body: unknown = req(), init?: RequestInit) => call(model, 'streamGenerateContent', body, init);

/** Reads an SSE body into its `data:` payloads (Google frames events with CRLF CRLF). */
async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split(/\r\n\r\n|\n\n/)
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

/** Streams `model` both ways (SSE and the JSON array) and checks that both carry the same chunks. */
async function chunksOf(model: string, body: unknown = req()): Promise<any[]> {
  const res = await streamSse(model, body);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const raw = await sseData(res);
  expect(raw.includes('[DONE]')).toBe(false);
  const chunks = raw.map((d) => JSON.parse(d));
  const arr = await streamArray(model, body);
  expect(arr.status).toBe(200);
  expect(arr.headers.get('content-type')).toBe('application/json; charset=UTF-8');
  const array: any[] = await json(arr);
  expect(Array.isArray(array)).toBe(true);
  const strip = (cs: any[]) => cs.map(({ responseId: _id, ...rest }) => rest);
  expect(strip(array)).toEqual(strip(chunks));
  return chunks;
}

const partsOf = (chunks: any[]) => chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? []);

describe('Gemini upstream fixture', () => {
  describe('auth', () => {
    it('accepts the key in x-goog-api-key or ?key=', async () => {
      const viaHeader = await generate('m');
      expect(viaHeader.status).toBe(200);
      const viaQuery = await fetch(`${up.baseURL}/models/m:generateContent?key=${KEY}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(req()),
      });
      expect(viaQuery.status).toBe(200);
      const rec = up.requests.at(-1)!;
      expect(rec).toMatchObject({ method: 'POST', path: '/v1beta/models/m:generateContent', query: { key: KEY } });
    });

    it('answers a wrong key with 400 API_KEY_INVALID and no key with 403', async () => {
      const wrong = await fetch(`${up.baseURL}/models/m:generateContent`, {
        method: 'POST',
        headers: { 'x-goog-api-key': 'AIzaWrong', 'content-type': 'application/json' },
        body: JSON.stringify(req()),
      });
      expect(wrong.status).toBe(400);
      const body = await json(wrong);
      expect(body.error).toMatchObject({ code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' });
      expect(body.error.details[0]).toMatchObject({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' });
      expect(JSON.stringify(body)).not.toContain('AIzaWrong');

      const none = await fetch(`${up.baseURL}/models`);
      expect(none.status).toBe(403);
      expect((await json(none)).error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });

      const bearer = await fetch(`${up.baseURL}/models`, { headers: { authorization: `Bearer ${KEY}` } });
      expect(bearer.status).toBe(401);
      expect((await json(bearer)).error.details[0].reason).toBe('ACCESS_TOKEN_TYPE_UNSUPPORTED');
    });
  });

  describe('default', () => {
    it('answers, records the request, and reports usage', async () => {
      const r = await json(generate('gemini-test', { contents: [user('first'), { role: 'model', parts: [{ text: 'ok' }] }, user('hi', 'there')] }));
      expect(r).toEqual({
        candidates: [
          {
            content: { parts: [{ text: 'Hello from gemini-test! You said: hi there' }], role: 'model' },
            finishReason: 'STOP',
            index: 0,
          },
        ],
        usageMetadata: {
          promptTokenCount: 12,
          candidatesTokenCount: 9,
          totalTokenCount: 21,
          promptTokensDetails: [{ modality: 'TEXT', tokenCount: 12 }],
        },
        modelVersion: 'gemini-test',
        responseId: expect.stringMatching(/^[\w-]{23}$/),
      });
      const rec = up.requests.at(-1)!;
      expect(rec).toMatchObject({ method: 'POST', path: '/v1beta/models/gemini-test:generateContent' });
      expect(rec.headers['x-goog-api-key']).toBe(KEY);
      expect(rec.body.contents).toHaveLength(3);
    });

    it('skips functionResponse parts and accepts an omitted role and snake_case names', async () => {
      const r = await json(
        generate('m', {
          system_instruction: { parts: [{ text: 'be brief' }] },
          contents: [
            { parts: [{ text: 'a' }] },
            { role: 'model', parts: [{ function_call: { name: 'f', args: {} } }] },
            { role: 'user', parts: [{ function_response: { name: 'f', response: { ok: true } } }, { text: 'b' }] },
          ],
        }),
      );
      expect(r.candidates[0].content.parts[0].text).toBe('Hello from m! You said: b');
    });

    it('streams text in at least three chunks with cumulative usage, finishing on the last chunk', async () => {
      const chunks = await chunksOf('gemini-test', { contents: [user('stream me')] });
      expect(chunks.length).toBeGreaterThanOrEqual(3);
      expect(partsOf(chunks).map((p: any) => p.text).join('')).toBe('Hello from gemini-test! You said: stream me');
      expect(new Set(chunks.map((c) => c.responseId)).size).toBe(1);
      expect(chunks.every((c) => c.modelVersion === 'gemini-test')).toBe(true);
      expect(chunks.every((c) => c.usageMetadata.promptTokenCount === 12)).toBe(true);
      expect(chunks.slice(0, -1).every((c) => !('finishReason' in c.candidates[0]))).toBe(true);
      const counts = chunks.map((c) => c.usageMetadata.candidatesTokenCount ?? 0);
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(chunks.at(-1).candidates[0]).toMatchObject({ finishReason: 'STOP', index: 0 });
      expect(chunks.at(-1).usageMetadata).toMatchObject({ promptTokenCount: 12, candidatesTokenCount: 9, totalTokenCount: 21 });
    });
  });

  describe('tools', () => {
    const weather = { id: 'fc_weather_1', name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } };
    const time = { id: 'fc_time_2', name: 'get_time', args: { timezone: 'Europe/Paris' } };

    it('returns two functionCall parts in one candidate with STOP', async () => {
      const r = await json(generate('tools'));
      expect(r.candidates).toHaveLength(1);
      expect(r.candidates[0].content.parts).toEqual([{ functionCall: weather }, { functionCall: time }]);
      expect(r.candidates[0].finishReason).toBe('STOP');
      expect(r.usageMetadata).toMatchObject({ promptTokenCount: 40, candidatesTokenCount: 20, totalTokenCount: 60 });
    });

    it('streams each call whole, in its own chunk', async () => {
      const chunks = await chunksOf('tools');
      expect(chunks.map((c) => c.candidates[0].content.parts)).toEqual([[{ functionCall: weather }], [{ functionCall: time }]]);
      expect(chunks[0].candidates[0].finishReason).toBeUndefined();
      expect(chunks[1].candidates[0].finishReason).toBe('STOP');
      expect(chunks[1].usageMetadata).toMatchObject({ promptTokenCount: 40, candidatesTokenCount: 20, totalTokenCount: 60 });
    });

    it('answers the functionResponse turn, streaming or not', async () => {
      const body = {
        contents: [
          user('weather?'),
          { role: 'model', parts: [{ functionCall: weather }, { functionCall: time }] },
          {
            role: 'user',
            parts: [
              { functionResponse: { id: 'fc_weather_1', name: 'get_weather', response: { temp: 18 } } },
              { functionResponse: { id: 'fc_time_2', name: 'get_time', response: { time: '12:00' } } },
            ],
          },
        ],
      };
      const r = await json(generate('tools', body));
      expect(r.candidates[0]).toMatchObject({ content: { parts: [{ text: 'The weather in Paris is 18°C.' }] }, finishReason: 'STOP' });
      expect(r.usageMetadata).toMatchObject({ promptTokenCount: 60, candidatesTokenCount: 10, totalTokenCount: 70 });
      const chunks = await chunksOf('tools', body);
      expect(partsOf(chunks).map((p: any) => p.text).join('')).toBe('The weather in Paris is 18°C.');
      expect(chunks.length).toBeGreaterThanOrEqual(3);
    });

    it('refuses a functionResponse without a name or with a non-object response', async () => {
      const noName = await generate('tools', {
        contents: [user('q'), { role: 'model', parts: [{ functionCall: weather }] }, { role: 'user', parts: [{ functionResponse: { response: {} } }] }],
      });
      expect(noName.status).toBe(400);
      expect((await json(noName)).error.message).toBe('* GenerateContentRequest.contents[2].parts[0].function_response.name: Name cannot be empty.\n');

      const stringResponse = await generate('tools', {
        contents: [user('q'), { role: 'model', parts: [{ functionCall: weather }] }, { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: '{}' } }] }],
      });
      expect(stringResponse.status).toBe(400);
      expect((await json(stringResponse)).error.message).toContain("'contents[2].parts[0].function_response.response'");

      const missing = await generate('tools', {
        contents: [user('q'), { role: 'model', parts: [{ functionCall: weather }] }, { role: 'user', parts: [{ functionResponse: { name: 'get_weather' } }] }],
      });
      expect(missing.status).toBe(400);
    });
  });

  describe('reasoner', () => {
    const usage = {
      promptTokenCount: 30,
      candidatesTokenCount: 15,
      totalTokenCount: 80,
      cachedContentTokenCount: 10,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 30 }],
      cacheTokensDetails: [{ modality: 'TEXT', tokenCount: 10 }],
      thoughtsTokenCount: 35,
    };

    it('returns a thought part, then the answer carrying the signature', async () => {
      const r = await json(generate('reasoner'));
      expect(r.candidates[0].content.parts).toEqual([
        { text: 'Let me think step by step.', thought: true },
        { text: 'The answer is 42.', thoughtSignature: 'sig-gemini-1' },
      ]);
      expect(r.usageMetadata).toEqual(usage);
    });

    it('streams thoughts, then text, then the signature on an empty final part', async () => {
      const chunks = await chunksOf('reasoner');
      const parts = partsOf(chunks);
      const thoughts = parts.filter((p: any) => p.thought);
      const texts = parts.filter((p: any) => !p.thought && p.text);
      expect(thoughts.length).toBeGreaterThanOrEqual(2);
      expect(texts.length).toBeGreaterThanOrEqual(2);
      expect(thoughts.map((p: any) => p.text).join('')).toBe('Let me think step by step.');
      expect(texts.map((p: any) => p.text).join('')).toBe('The answer is 42.');
      expect(parts.findIndex((p: any) => !p.thought)).toBeGreaterThan(parts.findLastIndex((p: any) => p.thought));
      expect(chunks.at(-1).candidates[0]).toMatchObject({ content: { parts: [{ text: '', thoughtSignature: 'sig-gemini-1' }] }, finishReason: 'STOP' });
      expect(chunks.at(-1).usageMetadata).toEqual(usage);
      // Intermediate chunks report thoughts so far and never more than the final counts.
      expect(chunks[0].usageMetadata).toMatchObject({ promptTokenCount: 30, cachedContentTokenCount: 10 });
      expect(chunks[0].usageMetadata.thoughtsTokenCount).toBeLessThanOrEqual(35);
      expect(chunks.slice(0, -1).every((c) => c.usageMetadata.totalTokenCount <= 80)).toBe(true);
    });
  });

  describe('vision', () => {
    it('counts inlineData and fileData parts of the last user content', async () => {
      const body = {
        contents: [
          { role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: 'AAAA' } }] },
          { role: 'model', parts: [{ text: 'ok' }] },
          {
            role: 'user',
            parts: [
              { text: 'what is this?' },
              { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
              { fileData: { mimeType: 'image/jpeg', fileUri: 'https://generativelanguage.googleapis.com/v1beta/files/abc' } },
            ],
          },
        ],
      };
      const r = await json(generate('vision', body));
      expect(r.candidates[0].content.parts[0].text).toBe('I see 2 image(s).');
      expect(r.usageMetadata).toMatchObject({ promptTokenCount: 12, candidatesTokenCount: 9, totalTokenCount: 21 });
      const chunks = await chunksOf('vision', body);
      expect(partsOf(chunks).map((p: any) => p.text).join('')).toBe('I see 2 image(s).');
    });
  });

  describe('safety', () => {
    it('blocks the prompt with promptFeedback and no candidates', async () => {
      const r = await json(generate('blocked'));
      expect(r.candidates).toBeUndefined();
      expect(r.promptFeedback.blockReason).toBe('SAFETY');
      expect(r.promptFeedback.safetyRatings).toContainEqual({ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true });
      expect(r.usageMetadata).toMatchObject({ promptTokenCount: 12, totalTokenCount: 12 });
      const chunks = await chunksOf('blocked');
      expect(chunks).toHaveLength(1);
      expect(chunks[0].candidates).toBeUndefined();
      expect(chunks[0].promptFeedback.blockReason).toBe('SAFETY');
    });

    it('stops an answer with finishReason SAFETY and no content', async () => {
      const r = await json(generate('unsafe-answer'));
      expect(r.candidates).toHaveLength(1);
      expect(r.candidates[0].content).toBeUndefined();
      expect(r.candidates[0].finishReason).toBe('SAFETY');
      expect(r.candidates[0].safetyRatings).toContainEqual({ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true });
      const chunks = await chunksOf('unsafe-answer');
      expect(chunks.at(-1).candidates[0]).toMatchObject({ finishReason: 'SAFETY' });
      expect(partsOf(chunks)).toEqual([]);
    });
  });

  describe('errors', () => {
    const cases: [string, number, string][] = [
      ['error-400', 400, 'INVALID_ARGUMENT'],
      ['error-401', 401, 'UNAUTHENTICATED'],
      ['error-404', 404, 'NOT_FOUND'],
      ['error-429', 429, 'RESOURCE_EXHAUSTED'],
      ['error-500', 500, 'INTERNAL'],
      ['error-503', 503, 'UNAVAILABLE'],
    ];

    it('returns google.rpc.Status bodies, as an object or (array stream) inside an array', async () => {
      for (const [model, status, name] of cases) {
        for (const send of [generate, streamSse, streamArray]) {
          const res = await send(model);
          expect(res.status, model).toBe(status);
          expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8');
          expect(res.headers.get('retry-after')).toBeNull();
          const raw = await json(res);
          const body = send === streamArray ? raw[0] : raw;
          if (send === streamArray) expect(Array.isArray(raw)).toBe(true);
          expect(body.error, model).toMatchObject({ code: status, status: name });
          expect(typeof body.error.message).toBe('string');
          if (status === 429) {
            expect(body.error.details).toContainEqual({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' });
          }
          if (status === 503) expect(body.error.message).toBe('The model is overloaded. Please try again later.');
        }
      }
    });
  });

  describe('validation', () => {
    const tool = (parameters: unknown) => ({ functionDeclarations: [{ name: 'get_weather', description: 'd', parameters }] });

    it('accepts the supported Schema subset, nested and in snake_case', async () => {
      const parameters = {
        type: 'OBJECT',
        title: 'Args',
        description: 'args',
        properties: {
          city: { type: 'string', description: 'City', minLength: 1, maxLength: 80, pattern: '^[A-Z]' },
          unit: { type: 'string', format: 'enum', enum: ['celsius', 'fahrenheit'], nullable: true, default: 'celsius' },
          days: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 7 }, min_items: 1, maxItems: 3 },
          where: { anyOf: [{ type: 'string' }, { type: 'object', properties: { lat: { type: 'number' } }, minProperties: 1, maxProperties: 2 }] },
        },
        required: ['city'],
        propertyOrdering: ['city', 'unit', 'days', 'where'],
        example: { city: 'Paris' },
      };
      const res = await generate('m', req({ tools: [tool(parameters)] }));
      expect(res.status).toBe(200);
      const json = await generate('m', req({ tools: [{ functionDeclarations: [{ name: 'f', parametersJsonSchema: { type: 'object', additionalProperties: false, $schema: 'x' } }] }] }));
      expect(json.status).toBe(200);
    });

    it('rejects JSON Schema keys outside the subset, naming each field and where', async () => {
      const parameters = {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        additionalProperties: false,
        properties: {
          city: { type: 'string', const: 'Paris' },
          days: { type: 'array', items: { type: 'integer', exclusiveMinimum: 0 } },
          ref: { $ref: '#/$defs/x' },
          any: { anyOf: [{ type: 'string' }, { type: 'object', additionalProperties: true }] },
        },
        $defs: { x: { type: 'string' } },
      };
      for (const send of [generate, streamSse]) {
        const res = await send('tools', req({ tools: [tool(parameters)] }));
        expect(res.status).toBe(400);
        const body = await json(res);
        expect(body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
        const at = "'tools[0].function_declarations[0].parameters";
        expect(body.error.message.split('\n')).toEqual([
          `Invalid JSON payload received. Unknown name "$schema" at ${at}': Cannot find field.`,
          `Invalid JSON payload received. Unknown name "additionalProperties" at ${at}': Cannot find field.`,
          `Invalid JSON payload received. Unknown name "$defs" at ${at}': Cannot find field.`,
          `Invalid JSON payload received. Unknown name "const" at ${at}.properties[0].value': Cannot find field.`,
          `Invalid JSON payload received. Unknown name "exclusiveMinimum" at ${at}.properties[1].value.items': Cannot find field.`,
          `Invalid JSON payload received. Unknown name "$ref" at ${at}.properties[2].value': Cannot find field.`,
          `Invalid JSON payload received. Unknown name "additionalProperties" at ${at}.properties[3].value.any_of[1]': Cannot find field.`,
        ]);
      }
    });

    it('rejects a list-valued type, non-string enum values, and unknown declaration fields', async () => {
      const typeList = await json(generate('m', req({ tools: [tool({ type: 'object', properties: { a: { type: ['string', 'null'] } } })] })));
      expect(typeList.error.message).toBe(
        `Invalid value at 'tools[0].function_declarations[0].parameters.properties[0].value.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ["string","null"]`,
      );
      const enumNumbers = await json(generate('m', req({ tools: [tool({ type: 'integer', enum: [1, 2] })] })));
      expect(enumNumbers.error.message).toContain(`Invalid value at 'tools[0].function_declarations[0].parameters.enum[0]' (TYPE_STRING), 1`);
      const strict = await json(generate('m', req({ tools: [{ functionDeclarations: [{ name: 'f', strict: true, parameters: { type: 'object' } }] }] })));
      expect(strict.error.message).toBe(`Invalid JSON payload received. Unknown name "strict" at 'tools[0].function_declarations[0]': Cannot find field.`);
    });

    it('rejects roles other than user/model, a missing contents, and unknown request fields', async () => {
      const assistant = await generate('m', { contents: [user('a'), { role: 'assistant', parts: [{ text: 'b' }] }] });
      expect(assistant.status).toBe(400);
      expect((await json(assistant)).error).toEqual({ code: 400, message: 'Please use a valid role: user, model.', status: 'INVALID_ARGUMENT' });

      const system = await json(generate('m', { contents: [{ role: 'system', parts: [{ text: 's' }] }, user('a')] }));
      expect(system.error.message).toBe('Content with system role is not supported.');

      const missing = await generate('m', { generationConfig: { temperature: 0 } });
      expect(missing.status).toBe(400);
      expect((await json(missing)).error.message).toBe('* GenerateContentRequest.contents: contents is not specified\n');

      const emptyParts = await json(generate('m', { contents: [{ role: 'user', parts: [] }] }));
      expect(emptyParts.error.message).toBe('* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n');

      const messages = await json(generate('m', { messages: [{ role: 'user', content: 'hi' }], contents: [user('a')] }));
      expect(messages.error.message).toBe('Invalid JSON payload received. Unknown name "messages": Cannot find field.');

      const imageUrl = await json(generate('m', { contents: [{ role: 'user', parts: [{ image_url: 'x' }] }] }));
      expect(imageUrl.error.message).toBe(`Invalid JSON payload received. Unknown name "image_url" at 'contents[0].parts[0]': Cannot find field.`);

      const bad = await fetch(`${up.baseURL}/models/m:generateContent`, { method: 'POST', headers, body: '{"contents": ' });
      expect(bad.status).toBe(400);
      expect((await json(bad)).error.status).toBe('INVALID_ARGUMENT');

      const streamed = await streamArray('m', { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] });
      expect(streamed.status).toBe(400);
      expect((await json(streamed))[0].error.message).toBe('Please use a valid role: user, model.');
    });
  });

  describe('other routes', () => {
    it('counts tokens', async () => {
      const r = await json(call('m', 'countTokens', { contents: [user('one two three'), { role: 'model', parts: [{ text: 'four' }] }] }));
      expect(r).toEqual({ totalTokens: 4, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 4 }] });
      const wrapped = await json(call('m', 'countTokens', { generateContentRequest: { model: 'models/m', contents: [user('a b')] } }));
      expect(wrapped.totalTokens).toBe(2);
    });

    it('lists models', async () => {
      const r = await json(fetch(`${up.baseURL}/models`, { headers }));
      expect(r.models[0]).toMatchObject({ name: 'models/gemini-2.5-flash', displayName: 'Gemini 2.5 Flash', inputTokenLimit: 1048576 });
      expect(r.models[0].supportedGenerationMethods).toContain('generateContent');
    });

    it('answers unknown routes with Google’s 404 page', async () => {
      const res = await fetch(`${up.baseURL}/models/m:embedEverything`, { method: 'POST', headers, body: '{}' });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('text/html; charset=UTF-8');
      expect(await res.text()).toContain('Error 404 (Not Found)');
    });
  });

  describe('misbehaviour', () => {
    it('waits before the first byte for model slow, streaming or not', async () => {
      let t0 = Date.now();
      const r = await json(generate('slow', req({ contents: [user('z')] })));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
      expect(r.candidates[0].content.parts[0].text).toBe('Hello from slow! You said: z');
      t0 = Date.now();
      const res = await streamSse('slow');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
      expect((await sseData(res)).length).toBeGreaterThanOrEqual(3);
    });

    it('counts a client leaving a hanging request, streaming or not', async () => {
      for (const send of [generate, streamSse]) {
        await expectLeavingHangCounted(up, (signal) => send('hang', req(), { signal }));
      }
    });

    it('counts a client leaving a slow stream mid-way', async () => {
      await expectLeavingStreamCounted(up, (signal) => streamSse('slow-stream', req({ contents: [user('a long story')] }), { signal }));
    });

    it('cuts a stream after partial text, and a JSON body halfway, without counting them as aborts', async () => {
      const before = up.aborted();
      for (const sse of [true, false]) {
        const res = await (sse ? streamSse : streamArray)('cut');
        expect(res.status).toBe(200);
        const { raw, err } = await readUntilCut(res);
        expect(err).toBeInstanceOf(Error);
        const chunks = sse
          ? raw
              .split('\r\n\r\n')
              .filter((e) => e.startsWith('data: '))
              .map((e) => JSON.parse(e.slice(6)))
          : JSON.parse(raw + ']');
        expect(chunks.map((c: any) => c.candidates[0].content.parts[0].text)).toEqual(['Partial ', 'answer']);
        expect(chunks.every((c: any) => !c.candidates[0].finishReason)).toBe(true);
      }

      const half = await generate('cut');
      expect(half.status).toBe(200);
      await expect(half.text()).rejects.toThrow();
      expect(up.aborted()).toBe(before);
    });

    it('answers garbage, streaming or not', async () => {
      const res = await generate('garbage');
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('<html>oops</html>');
      const s = await streamSse('garbage');
      expect(await sseData(s)).toEqual(['{not json']);
      const a = await streamArray('garbage');
      expect(await a.text()).toBe('[{not json');
    });
  });
});
