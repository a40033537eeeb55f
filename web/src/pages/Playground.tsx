/**
 * Chat with one model, or send each message to 2–4 models at once, streamed side by side with
 * tokens, cost and timings; answers render as sanitized markdown, and every model keeps its own
 * history across turns. Blind mode hides the names as A and B, and every number that would give
 * them away, until the user votes, feeding the hub's Bradley–Terry leaderboard.
 */
import { useEffect, useId, useReducer, useRef, useState } from 'react';
import type { FormEvent, KeyboardEvent } from 'react';
import { api, authHeaders, errorFrom } from '../api';
import type { Leaderboard as ArenaBoard, List, Model, Pricing } from '../api';
import { useArenaText } from '../arena-i18n';
import { useAuth } from '../auth';
import { Markdown } from '../components/Markdown';
import { ErrorNotice, Loading, PageHeader } from '../components/ui';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n';
import { sseData } from '../sse';

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
}

interface Panel {
  model: string;
  state: 'waiting' | 'streaming' | 'done' | 'error' | 'stopped';
  text: string;
  reasoning: string;
  error?: string;
  usage?: Usage;
  ttftMs?: number;
  latencyMs?: number;
}

/** One message of the user and each model's answer to it. */
interface Turn {
  prompt: string;
  panels: Panel[];
}

/**
 * A conversation: the same models across turns, each model seeing its own earlier answers. A
 * blind one is a single turn that ends with a vote.
 */
interface Conversation {
  id: number;
  blind: boolean;
  models: string[];
  turns: Turn[];
  vote?: 'a' | 'b' | 'tie' | 'bad';
}

type Action =
  | { type: 'start'; conversation: Conversation }
  | { type: 'turn'; id: number; turn: Turn }
  | { type: 'patch'; id: number; turn: number; index: number; patch: (p: Panel) => Partial<Panel> }
  | { type: 'voted'; id: number; winner: NonNullable<Conversation['vote']> }
  | { type: 'clear' };

function reducer(c: Conversation | undefined, a: Action): Conversation | undefined {
  if (a.type === 'start') return a.conversation;
  if (a.type === 'clear') return undefined;
  if (!c || c.id !== a.id) return c;
  if (a.type === 'voted') return { ...c, vote: a.winner };
  if (a.type === 'turn') return { ...c, turns: [...c.turns, a.turn] };
  return {
    ...c,
    turns: c.turns.map((t, ti) => (ti !== a.turn ? t : { ...t, panels: t.panels.map((p, i) => (i === a.index ? { ...p, ...a.patch(p) } : p)) })),
  };
}

/** `allowed_models` entries are exact names or prefixes ending in `*`; empty allows everything. */
export function allowedBy(patterns: string[], model: string): boolean {
  if (!patterns.length) return true;
  return patterns.some((p) => (p.endsWith('*') ? model.startsWith(p.slice(0, -1)) : p === model));
}

/** Models the playground can chat with: not embedding models (by the hub's `kind`, or their output). */
export function isChatModel(m: Model): boolean {
  if (m.kind) return m.kind === 'chat';
  const out = m.modalities && !Array.isArray(m.modalities) ? m.modalities.output : undefined;
  return !(out && out.length > 0 && out.every((o) => o === 'embedding' || o === 'embeddings'));
}

export function costOf(usage: Usage | undefined, pricing: Pricing | undefined): number | undefined {
  if (!usage || !pricing) return undefined;
  const cached = Math.min(usage.cached_tokens, usage.prompt_tokens);
  return (
    ((usage.prompt_tokens - cached) * pricing.input_per_million +
      cached * (pricing.cached_input_per_million ?? pricing.input_per_million) +
      usage.completion_tokens * pricing.output_per_million) /
    1e6
  );
}

/** The messages model `index` is sent: the system prompt, every earlier turn with its own answer, the new prompt. */
export function historyFor(system: string, turns: readonly Turn[], index: number, prompt: string): { role: string; content: string }[] {
  const out: { role: string; content: string }[] = [];
  if (system.trim()) out.push({ role: 'system', content: system });
  for (const turn of turns) {
    out.push({ role: 'user', content: turn.prompt });
    const answer = turn.panels[index]?.text;
    if (answer) out.push({ role: 'assistant', content: answer });
  }
  out.push({ role: 'user', content: prompt });
  return out;
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const sameModels = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

const LABELS = ['A', 'B', 'C', 'D'];
let conversationIds = 0;

export default function Playground() {
  const { me } = useAuth();
  const { t } = useI18n();
  const ids = useId();
  const models = useLoad((signal) => api<List<Model>>('/v1/models', { signal }).then((r) => r.data), []);
  const allowed = me?.kind === 'key' ? me.key.allowed_models : [];
  const available = (models.data ?? []).filter((m) => isChatModel(m) && allowedBy(allowed, m.id));
  const pricing = new Map(available.map((m) => [m.id, m.pricing]));

  const [selected, setSelected] = useState<string[]>([]);
  const [filter, setFilter] = useState('');
  const [system, setSystem] = useState('');
  const [prompt, setPrompt] = useState('');
  const [temperature, setTemperature] = useState('');
  const [maxTokens, setMaxTokens] = useState('');
  const [blind, setBlind] = useState(false);
  const [formError, setFormError] = useState<string>();
  const [conv, dispatch] = useReducer(reducer, undefined);
  const [voteError, setVoteError] = useState<Error>();
  const [voting, setVoting] = useState(false);
  const [boardTick, setBoardTick] = useState(0);
  const aborts = useRef<AbortController[]>([]);

  useEffect(() => () => aborts.current.forEach((c) => c.abort()), []);

  const last = conv?.turns[conv.turns.length - 1];
  const running = last?.panels.some((p) => p.state === 'waiting' || p.state === 'streaming') ?? false;
  const needle = filter.trim().toLowerCase();
  const listed = needle ? available.filter((m) => m.id.toLowerCase().includes(needle) || selected.includes(m.id)) : available;

  function toggle(id: string) {
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : s.length >= 4 ? s : [...s, id]));
  }

  /** Sampling settings from the form, or an error message. */
  function settings(): { temperature?: number; max_tokens?: number } | string {
    const out: { temperature?: number; max_tokens?: number } = {};
    if (temperature.trim()) {
      const v = Number(temperature);
      if (!Number.isFinite(v) || v < 0 || v > 2) return t('pg.invalidTemperature');
      out.temperature = v;
    }
    if (maxTokens.trim()) {
      const v = Number(maxTokens);
      if (!Number.isInteger(v) || v < 1) return t('pg.invalidMaxTokens');
      out.max_tokens = v;
    }
    return out;
  }

  function send(e?: FormEvent) {
    e?.preventDefault();
    if (running) return;
    setFormError(undefined);
    setVoteError(undefined);
    if (!prompt.trim()) return setFormError(t('pg.emptyPrompt'));
    const params = settings();
    if (typeof params === 'string') return setFormError(params);
    let chosen: string[];
    if (blind) {
      if (selected.length === 2) chosen = shuffle(selected);
      else if (selected.length === 0) {
        if (available.length < 2) return setFormError(t('pg.needTwo'));
        chosen = shuffle(available.map((m) => m.id)).slice(0, 2);
      } else return setFormError(t('pg.pickBlind'));
    } else {
      if (selected.length < 1 || selected.length > 4) return setFormError(t('pg.pickTwo'));
      chosen = selected;
    }
    aborts.current.forEach((c) => c.abort());
    const text = prompt;
    const turn: Turn = { prompt: text, panels: [] };
    // Same models, not blind: the conversation goes on; anything else starts a new one.
    const goOn = conv && !conv.blind && !blind && sameModels(conv.models, chosen) ? conv : undefined;
    const models = goOn ? goOn.models : chosen;
    turn.panels = models.map((model) => ({ model, state: 'waiting', text: '', reasoning: '' }));
    let id: number;
    let turnIndex: number;
    let earlier: Turn[];
    if (goOn) {
      id = goOn.id;
      turnIndex = goOn.turns.length;
      earlier = goOn.turns;
      dispatch({ type: 'turn', id, turn });
    } else {
      id = ++conversationIds;
      turnIndex = 0;
      earlier = [];
      dispatch({ type: 'start', conversation: { id, blind, models, turns: [turn] } });
    }
    setPrompt('');
    aborts.current = models.map((model, index) => {
      const ctl = new AbortController();
      void streamOne(id, turnIndex, index, model, historyFor(system, earlier, index, text), params, ctl.signal);
      return ctl;
    });
  }

  async function streamOne(id: number, turn: number, index: number, model: string, messages: unknown[], params: object, signal: AbortSignal) {
    const patch = (fn: (p: Panel) => Partial<Panel>) => dispatch({ type: 'patch', id, turn, index, patch: fn });
    const t0 = performance.now();
    let first = true;
    try {
      const res = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { ...authHeaders(), 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ model, messages, ...params, stream: true, stream_options: { include_usage: true } }),
        signal,
      });
      if (!res.ok) throw await errorFrom(res);
      for await (const data of sseData(res, signal)) {
        let chunk: {
          error?: { message?: string };
          choices?: { delta?: { content?: string | null; reasoning_content?: string | null } }[];
          usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null } | null;
        };
        try {
          chunk = JSON.parse(data) as typeof chunk;
        } catch {
          continue;
        }
        if (chunk.error) throw new Error(chunk.error.message ?? 'stream error');
        const delta = chunk.choices?.[0]?.delta;
        const content = delta?.content ?? '';
        const reasoning = delta?.reasoning_content ?? '';
        if (content || reasoning) {
          const ttft = first ? performance.now() - t0 : undefined;
          first = false;
          patch((p) => ({ state: 'streaming', text: p.text + content, reasoning: p.reasoning + reasoning, ...(ttft !== undefined && { ttftMs: ttft }) }));
        }
        if (chunk.usage) {
          const u = chunk.usage;
          patch(() => ({ usage: { prompt_tokens: u.prompt_tokens ?? 0, completion_tokens: u.completion_tokens ?? 0, cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 } }));
        }
      }
      const latency = performance.now() - t0;
      patch(() => (signal.aborted ? { state: 'stopped', latencyMs: latency } : { state: 'done', latencyMs: latency }));
    } catch (err) {
      const latency = performance.now() - t0;
      if (signal.aborted || (err as Error).name === 'AbortError') patch(() => ({ state: 'stopped', latencyMs: latency }));
      else patch(() => ({ state: 'error', error: (err as Error).message, latencyMs: latency }));
    }
  }

  function stop() {
    aborts.current.forEach((c) => c.abort());
  }

  function clear() {
    stop();
    aborts.current = [];
    dispatch({ type: 'clear' });
    setVoteError(undefined);
    setFormError(undefined);
  }

  async function vote(winner: NonNullable<Conversation['vote']>) {
    if (!conv || !last) return;
    setVoting(true);
    setVoteError(undefined);
    try {
      // The prompt and both answers as the voter read them: the hub keeps them with the judgement
      // (cut at 32 KB each); it refuses a text over 1M characters, so a longer one is sliced here.
      const answers = [last.panels[0]?.text ?? '', last.panels[1]?.text ?? ''].map((t) => t.slice(0, 1_000_000));
      await api('/v1/arena/votes', { method: 'POST', body: { models: [conv.models[0]!, conv.models[1]!], winner, prompt: last.prompt.slice(0, 1_000_000), answers } });
      dispatch({ type: 'voted', id: conv.id, winner });
      setBoardTick((n) => n + 1);
    } catch (err) {
      setVoteError(err as Error);
    } finally {
      setVoting(false);
    }
  }

  function onPromptKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) send();
  }

  // Until the vote, a blind answer shows neither its model nor anything that tells models apart
  // (cost follows the model's price, time to first token its serving stack).
  const hidden = !!conv?.blind && !conv.vote;

  return (
    <>
      <PageHeader title={t('pg.title')} />
      <ErrorNotice error={models.error} onRetry={models.reload} />
      <Loading show={models.loading && !models.data} />
      {models.data && (
        <form className="card playground-form" onSubmit={send}>
          <fieldset className="model-picker">
            <legend>{t('pg.models')}</legend>
            <p className="hint" id={`${ids}-models-hint`}>
              {t('pg.modelsHint')}
            </p>
            {available.length === 0 ? (
              <p>{t('pg.noModels')}</p>
            ) : (
              <>
                {available.length > 8 && (
                  <div className="field">
                    <label htmlFor={`${ids}-filter`}>{t('models.search')}</label>
                    <input id={`${ids}-filter`} type="search" value={filter} onChange={(e) => setFilter(e.target.value)} />
                  </div>
                )}
                <ul className="checklist" aria-describedby={`${ids}-models-hint`} data-testid="model-picker">
                  {listed.map((m) => (
                    <li key={m.id}>
                      <label>
                        <input type="checkbox" name="models" value={m.id} checked={selected.includes(m.id)} disabled={!selected.includes(m.id) && selected.length >= 4} onChange={() => toggle(m.id)} />
                        <span className="mono">{m.id}</span>
                      </label>
                    </li>
                  ))}
                </ul>
              </>
            )}
          </fieldset>
          <div className="field">
            <label className="check">
              <input type="checkbox" checked={blind} onChange={(e) => setBlind(e.target.checked)} aria-describedby={`${ids}-blind-hint`} />
              {t('pg.blind')}
            </label>
            <small className="hint" id={`${ids}-blind-hint`}>
              {t('pg.blindHint')}
            </small>
          </div>
          <div className="pg-settings">
            <div className="field">
              <label htmlFor={`${ids}-temperature`}>{t('pg.temperature')}</label>
              <input
                id={`${ids}-temperature`}
                type="number"
                inputMode="decimal"
                min={0}
                max={2}
                step={0.1}
                value={temperature}
                onChange={(e) => setTemperature(e.target.value)}
                aria-describedby={`${ids}-temperature-hint`}
              />
              <small className="hint" id={`${ids}-temperature-hint`}>
                {t('pg.temperatureHint')}
              </small>
            </div>
            <div className="field">
              <label htmlFor={`${ids}-max-tokens`}>{t('pg.maxTokens')}</label>
              <input
                id={`${ids}-max-tokens`}
                type="number"
                inputMode="numeric"
                min={1}
                step={1}
                value={maxTokens}
                onChange={(e) => setMaxTokens(e.target.value)}
                aria-describedby={`${ids}-max-tokens-hint`}
              />
              <small className="hint" id={`${ids}-max-tokens-hint`}>
                {t('pg.maxTokensHint')}
              </small>
            </div>
          </div>
          <div className="field">
            <label htmlFor={`${ids}-system`}>{t('pg.system')}</label>
            <textarea id={`${ids}-system`} rows={2} value={system} onChange={(e) => setSystem(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor={`${ids}-prompt`}>{t('pg.prompt')}</label>
            <textarea
              id={`${ids}-prompt`}
              rows={4}
              value={prompt}
              onChange={(e) => setPrompt(e.target.value)}
              onKeyDown={onPromptKey}
              aria-keyshortcuts="Control+Enter"
              aria-describedby={`${ids}-prompt-hint`}
            />
            <small className="hint" id={`${ids}-prompt-hint`}>
              {t('pg.continueHint')}
            </small>
          </div>
          {formError && (
            <div className="notice notice-error" role="alert">
              {formError}
            </div>
          )}
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={running}>
              {t('pg.send')}
            </button>
            {running && (
              <button type="button" className="btn" onClick={stop}>
                {t('pg.stop')}
              </button>
            )}
            {conv && (
              <button type="button" className="btn" onClick={clear}>
                {t('pg.clear')}
              </button>
            )}
          </div>
        </form>
      )}
      {conv && (
        <section aria-label={t('pg.answers')}>
          {hidden && <p className="muted small">{t('pg.statsAfterVote')}</p>}
          <div className={`answers answers-${conv.models.length}`} data-testid="answers">
            {conv.models.map((model, i) => (
              <ModelColumn
                key={`${conv.id}-${i}`}
                turns={conv.turns}
                index={i}
                label={hidden ? t('pg.modelLabel', { label: LABELS[i]! }) : conv.blind ? `${LABELS[i]} · ${model}` : model}
                pricing={pricing.get(model)}
                showStats={!hidden}
              />
            ))}
          </div>
          {conv.blind && conv.models.length === 2 && (
            <div className="card vote" aria-live="polite">
              {conv.vote ? (
                <p data-testid="vote-result">{t('pg.voted', { a: conv.models[0]!, b: conv.models[1]! })}</p>
              ) : (
                <fieldset disabled={running || voting}>
                  <legend>{t('pg.vote')}</legend>
                  <div className="vote-buttons">
                    {(['a', 'b', 'tie', 'bad'] as const).map((w) => (
                      <button key={w} type="button" className="btn" onClick={() => void vote(w)}>
                        {t(`pg.vote.${w}` as MessageKey)}
                      </button>
                    ))}
                  </div>
                </fieldset>
              )}
              <ErrorNotice error={voteError} />
            </div>
          )}
        </section>
      )}
      <Leaderboard tick={boardTick} />
    </>
  );
}

/** One model's side of the conversation: each prompt, then its answer in markdown. */
function ModelColumn({ turns, index, label, pricing, showStats }: { turns: readonly Turn[]; index: number; label: string; pricing: Pricing | undefined; showStats: boolean }) {
  const { t } = useI18n();
  const latest = turns[turns.length - 1]?.panels[index];
  const state = latest?.state ?? 'waiting';
  const busy = state === 'waiting' || state === 'streaming';
  const stateText: Record<Panel['state'], string> = {
    waiting: t('pg.waiting'),
    streaming: t('pg.streaming'),
    done: t('pg.done'),
    stopped: t('pg.stopped'),
    error: t('common.error'),
  };
  return (
    <article className={`card answer answer-${state}`} aria-busy={busy} data-testid="answer" data-state={state} aria-label={label}>
      <header className="answer-head">
        <h2 className="mono">{label}</h2>
        <span className={`badge badge-${state === 'error' ? 'bad' : state === 'done' ? 'good' : 'neutral'}`} role="status">
          {stateText[state]}
        </span>
      </header>
      <ol className="chat" data-testid="chat">
        {turns.map((turn, ti) => {
          const panel = turn.panels[index];
          if (!panel) return null;
          return (
            <li key={ti} className="chat-turn">
              {turns.length > 1 && (
                <div className="chat-user" data-testid="chat-user">
                  <div className="message-role">{t('pg.you')}</div>
                  <div className="message-text">{turn.prompt}</div>
                </div>
              )}
              <Answer panel={panel} pricing={pricing} showStats={showStats} />
            </li>
          );
        })}
      </ol>
    </article>
  );
}

function Answer({ panel, pricing, showStats }: { panel: Panel; pricing: Pricing | undefined; showStats: boolean }) {
  const { t } = useI18n();
  const f = useFormat();
  const busy = panel.state === 'waiting' || panel.state === 'streaming';
  const cost = costOf(panel.usage, pricing);
  return (
    <div className="chat-answer" data-state={panel.state}>
      {panel.reasoning && (
        <details className="reasoning">
          <summary>{t('pg.reasoning')}</summary>
          <div className="message-text muted">{panel.reasoning}</div>
        </details>
      )}
      <div className="answer-body">
        <Markdown text={panel.text} className="answer-text" testId="answer-text" />
        {busy && <span className="cursor" aria-hidden="true" />}
      </div>
      {panel.error && (
        <div className="notice notice-error" role="alert">
          {panel.error}
        </div>
      )}
      {showStats && (
        <dl className="answer-stats" data-testid="answer-stats">
          <div>
            <dt>{t('overview.tokens')}</dt>
            <dd>{panel.usage ? t('pg.tokens', { input: f.int(panel.usage.prompt_tokens), output: f.int(panel.usage.completion_tokens) }) : '—'}</dd>
          </div>
          <div>
            <dt>{t('pg.cost')}</dt>
            <dd>{cost !== undefined ? f.usd(cost) : panel.usage && !pricing ? t('pg.noPrice') : '—'}</dd>
          </div>
          <div>
            <dt>{t('pg.ttft')}</dt>
            <dd>{f.ms(panel.ttftMs)}</dd>
          </div>
          <div>
            <dt>{t('pg.latency')}</dt>
            <dd>{f.ms(panel.latencyMs)}</dd>
          </div>
        </dl>
      )}
    </div>
  );
}

/** The arena board: Bradley–Terry scores with their 95% intervals and the votes behind each. */
function Leaderboard({ tick }: { tick: number }) {
  const { t } = useI18n();
  const at = useArenaText();
  const f = useFormat();
  // The hub sends the board best first, models without a decisive vote last.
  const board = useLoad((signal) => api<ArenaBoard>('/v1/arena/leaderboard', { signal }), [tick]);
  const rows = board.data?.data;
  const signed = (n: number) => `${n >= 0 ? '+' : '−'}${f.int(Math.abs(n))}`;
  return (
    <section className="card" aria-labelledby="board-title">
      <h2 id="board-title">{t('pg.leaderboard')}</h2>
      <ErrorNotice error={board.error} onRetry={board.reload} />
      <Loading show={board.loading && !board.data} />
      {rows && rows.length === 0 && <p className="muted">{t('pg.noVotes')}</p>}
      {rows && rows.length > 0 && (
        <div className="table-wrap">
          <table data-testid="leaderboard">
            <thead>
              <tr>
                <th scope="col" className="num">
                  {t('pg.rank')}
                </th>
                <th scope="col">{t('overview.model')}</th>
                <th scope="col" className="num">
                  {at('score')}
                </th>
                <th scope="col" className="num">
                  {at('ci')}
                </th>
                <th scope="col" className="num">
                  {at('votes')}
                </th>
                <th scope="col" className="num">
                  {t('pg.games')}
                </th>
                <th scope="col" className="num">
                  {at('record')}
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.model} data-model={r.model}>
                  <td className="num">{r.rank ?? '—'}</td>
                  <th scope="row" className="mono">
                    {r.model}
                  </th>
                  <td className="num" data-field="rating">
                    {r.rating === null ? <span className="muted">{at('noScore')}</span> : f.int(r.rating)}
                  </td>
                  <td className="num" data-field="ci">
                    {r.rating !== null && r.ci_lower !== null && r.ci_upper !== null ? `${signed(r.ci_upper - r.rating)} / ${signed(r.ci_lower - r.rating)}` : '—'}
                  </td>
                  <td className="num" data-field="votes">
                    {f.int(r.votes)}
                  </td>
                  {/* Every vote naming the model, "both bad" ones included. */}
                  <td className="num" data-field="games">
                    {f.int(r.games)}
                  </td>
                  <td className="num" data-field="record">
                    {f.int(r.wins)} / {f.int(r.losses)} / {f.int(r.ties)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {board.data && <p className="muted">{at('about', { rounds: board.data.bootstrap_rounds })}</p>}
        </div>
      )}
    </section>
  );
}
