/**
 * route: sends each request to the cheapest model that is good enough for its kind, by evidence.
 * An evaluation run (`baimo eval run -o results.json`) measured every candidate model on test
 * cases labelled with their kind of request (`vars.<kindVar>`); the route table keeps, per kind,
 * the cheapest model whose pass rate meets `bar` (eval/evidence.ts). For each request a
 * classifier names its kind — a cheap model asked to pick one of the kinds, or the nearest
 * labelled example by embeddings — and the request goes to that kind's model; a kind the
 * evidence does not know goes to the model that is best over all kinds.
 *
 * The classifier's call (or embeddings) and the answer are sub-calls: admitted, charged to the
 * caller's key and itemized in the trace, whose summary says the kind and why the model was chosen.
 * A classifier that fails (an upstream error, a refusal by the key's limits) or answers no known
 * kind is not the request's failure: it goes to the best model over all kinds, as an unknown kind
 * does, and the summary says so. Only a cancelled request stops there.
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { HubError } from '../core/errors.js';
import type { Model, ModelCaller } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import { EvidenceError, readEvidence, routeTable } from '../eval/evidence.js';
import type { Choice, Evidence } from '../eval/evidence.js';
import { lastUserText } from '../knowledge/grounding.js';
import { commonFields, defineVirtualKind, modelName } from './config.js';
import { assertSingleChoice, memberRequest, promptRequest, Run } from './run.js';
import type { VirtualModelOptions } from './run.js';

export const routeSchema = z
  .strictObject({
    kind: z.literal('route'),
    ...commonFields,
    /** The JSON output of `baimo eval run` (a path, relative to the directory the hub starts in). */
    evidence: z.string().min(1),
    /** The test var that names each case's kind of request. */
    kindVar: z.string().min(1).default('kind'),
    /** The pass rate (0–1) a model needs on a kind to be sent it. */
    bar: z.number().min(0).max(1).default(0.9),
    classifier: z.union([
      /** A (cheap) model asked which of the kinds a request is. */
      z.strictObject({ model: modelName }),
      /** The kind of the nearest labelled example (the evidence's prompts), by cosine similarity. */
      z.strictObject({ embeddings: modelName }),
    ]),
  })
  .superRefine((c, ctx) => {
    try {
      loadEvidence(c.evidence, c.kindVar);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['evidence'], message: err instanceof Error ? err.message : String(err) });
    }
  });

export type RouteConfig = z.infer<typeof routeSchema>;

const loaded = new Map<string, Evidence>();

/** An eval run's JSON output of 50,000 cells (the most a run plans) is well under this. */
const MAX_EVIDENCE_BYTES = 256 * 1024 * 1024;

/** The evidence file, read once per (path, kindVar) when the config loads (never on a request). */
function loadEvidence(path: string, kindVar: string): Evidence {
  const key = `${kindVar}\u0000${path}`;
  let e = loaded.get(key);
  if (!e) {
    let json: unknown;
    try {
      // A device or a FIFO would be read forever, a huge file would take the hub's memory.
      const st = statSync(path);
      if (!st.isFile()) throw new EvidenceError(`cannot read '${path}': not a regular file`);
      if (st.size > MAX_EVIDENCE_BYTES) throw new EvidenceError(`cannot read '${path}': ${st.size} bytes, more than the ${MAX_EVIDENCE_BYTES / 1024 / 1024} MB an evidence file may have`);
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      if (err instanceof EvidenceError) throw err;
      const reason = (err as { code?: string }).code === 'ENOENT' ? 'no such file' : err instanceof SyntaxError ? 'not JSON' : (err as Error).message;
      throw new EvidenceError(`cannot read '${path}': ${reason}`);
    }
    e = readEvidence(json, kindVar);
    loaded.set(key, e);
  }
  return e;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length && i < b.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : -1;
}

/** The kind a classifier's answer names: the answer itself, else the first kind it mentions. */
export function kindNamed(answer: string, kinds: readonly string[]): string | undefined {
  const a = answer.trim().toLowerCase().replace(/^["'`]+|["'`.。]+$/g, '');
  const exact = kinds.find((k) => k.toLowerCase() === a);
  if (exact) return exact;
  let best: { kind: string; at: number } | undefined;
  for (const k of kinds) {
    const at = a.indexOf(k.toLowerCase());
    if (at >= 0 && (!best || at < best.at || (at === best.at && k.length > best.kind.length))) best = { kind: k, at };
  }
  return best?.kind;
}

export class RouteModel implements Model {
  readonly provider = 'virtual:route';
  readonly name: string;
  private readonly evidence: Evidence;
  private readonly table: ReturnType<typeof routeTable>;
  /** The labelled examples' embeddings, made by the first request that needs them. */
  private examples: Promise<Float32Array[]> | undefined;

  constructor(
    readonly config: RouteConfig,
    private readonly caller: ModelCaller,
    options: VirtualModelOptions = {},
  ) {
    this.name = options.name ?? 'route';
    this.evidence = loadEvidence(config.evidence, config.kindVar);
    this.table = routeTable(this.evidence, config.bar);
  }

  /** The request's kind, undefined when the classifier names none; `failed`: the classifier itself failed. */
  private async classify(run: Run, text: string, signal: AbortSignal): Promise<{ kind: string | undefined; failed?: string }> {
    try {
      return await this.classifyOrThrow(run, text, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      return { kind: undefined, failed: err instanceof HubError ? err.kind : 'error' };
    }
  }

  private async classifyOrThrow(run: Run, text: string, signal: AbortSignal): Promise<{ kind: string | undefined; failed?: string }> {
    const { kinds } = this.evidence;
    const c = this.config.classifier;
    if ('model' in c) {
      const examples = kinds.map((k) => `- ${k}: e.g. ${JSON.stringify((this.evidence.examples.find((x) => x.kind === k)?.text ?? '').slice(0, 200))}`).join('\n');
      const ask = promptRequest({ model: c.model, messages: [] }, c.model, [
        { role: 'system', content: `Classify the user's request into exactly one of these kinds, and answer with the kind's name only:\n${examples}` },
        { role: 'user', content: [{ type: 'text', text }] },
      ]);
      const o = await run.tryCall('classify', c.model, { ...ask, maxTokens: 20, temperature: 0 });
      if (o.status === 'ok') return { kind: kindNamed(o.answer.text, kinds) };
      return { kind: undefined, failed: o.status === 'failed' ? o.error.kind : 'refused' };
    }
    // Nearest labelled example: the examples are embedded once (with the first request's key).
    this.examples ??= this.caller.embed(c.embeddings, this.evidence.examples.map((x) => x.text), signal).then((r) => r.vectors);
    let vectors: Float32Array[];
    try {
      vectors = await this.examples;
    } catch (err) {
      this.examples = undefined;
      throw err;
    }
    const [q] = (await this.caller.embed(c.embeddings, [text], signal)).vectors;
    if (!q) return { kind: undefined };
    let best = -Infinity;
    let kind: string | undefined;
    vectors.forEach((v, i) => {
      const s = cosine(q, v);
      if (s > best) {
        best = s;
        kind = this.evidence.examples[i]!.kind;
      }
    });
    return { kind };
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    assertSingleChoice(request, this.name);
    const c = this.config;
    const run = new Run({ name: this.name, kind: 'route', maxCalls: c.maxCalls, maxCostUsd: c.maxCostUsd, timeoutMs: c.timeoutMs }, this.caller, signal);
    const text = lastUserText(request);
    const { kind, failed } = text ? await this.classify(run, text, signal) : { kind: undefined, failed: undefined };
    const known = kind === undefined ? undefined : this.table.byKind.get(kind);
    const choice: Choice = known ?? this.table.overall;
    yield* run.streamFinal('answer', 'model', choice.model, memberRequest(request, choice.model, { tools: true }), { kind: kind ?? null });
    yield* run.finish({
      kind: kind ?? null,
      model: choice.model,
      reason: failed ? `classifier failed (${failed}): the best model over all kinds` : !known ? 'kind unknown: the best model over all kinds' : choice.meetsBar ? `cheapest with pass rate ≥ ${c.bar}` : `no model meets ${c.bar}: the best on this kind`,
      passRate: choice.passRate,
      meanCostUsd: choice.meanCostUsd,
    });
  }
}

export const routeKind = defineVirtualKind({
  kind: 'route',
  schema: routeSchema,
  members: (c) => [...loadEvidence(c.evidence, c.kindVar).models, 'model' in c.classifier ? c.classifier.model : c.classifier.embeddings],
  create: (c, caller, options) => new RouteModel(c, caller, options),
});

