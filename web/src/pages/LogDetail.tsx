/** One request: summary, timings, attempts, messages and response, and a virtual model's trace. */
import type { ReactNode } from 'react';
import { api } from '../api';
import type { RequestDetail, TraceStep } from '../api';
import { useAuth } from '../auth';
import { ErrorNotice, Loading, PageHeader, StatusBadge } from '../components/ui';
import { useFormat } from '../format';
import type { Formatters } from '../format';
import { useLoad } from '../hooks';
import { labelOf, useI18n } from '../i18n';
import type { Translate } from '../i18n';
import { href } from '../route';
import { sseTranscript } from '../sse';

interface ShownMessage {
  role: string;
  /** The participant's `name`, if the message has one. */
  name?: string;
  text: string;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** Text of an OpenAI or Anthropic content value (string, or an array of parts / blocks). */
function contentText(content: unknown): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return JSON.stringify(content, null, 2);
  return content
    .map((p: unknown) => {
      if (!isObj(p)) return str(p);
      switch (p.type) {
        case 'text':
        case 'input_text':
          return str(p.text ?? '');
        case 'image_url':
        case 'image':
        case 'input_image':
          return '[image]';
        case 'input_audio':
          return '[audio]';
        case 'document':
        case 'file':
          return '[file]';
        case 'thinking':
          return `[thinking] ${str(p.thinking ?? '')}`;
        case 'tool_use':
          return `[tool call] ${str(p.name)}(${JSON.stringify(p.input ?? {})})`;
        case 'tool_result':
          return `[tool result] ${contentText(p.content)}`;
        default:
          return JSON.stringify(p);
      }
    })
    .join('\n');
}

export function parseRequestMessages(body: string): ShownMessage[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObj(parsed)) return undefined;
  const out: ShownMessage[] = [];
  if (parsed.system !== undefined) out.push({ role: 'system', text: contentText(parsed.system) });
  if (Array.isArray(parsed.messages)) {
    for (const m of parsed.messages) {
      if (!isObj(m)) continue;
      let text = contentText(m.content);
      if (Array.isArray(m.tool_calls)) {
        for (const c of m.tool_calls) if (isObj(c) && isObj(c.function)) text += `${text ? '\n' : ''}[tool call] ${str(c.function.name)}(${str(c.function.arguments ?? '')})`;
      }
      if (typeof m.reasoning_content === 'string' && m.reasoning_content) text = `[reasoning] ${m.reasoning_content}\n${text}`;
      out.push({ role: str(m.role ?? '?'), ...(typeof m.name === 'string' && { name: m.name }), text });
    }
  } else if (parsed.input !== undefined) {
    out.push({ role: 'input', text: contentText(parsed.input) });
  }
  return out;
}

/** The answer's text (and reasoning) from a JSON body or an SSE transcript, either API's shape. */
export function parseResponse(body: string): { text: string; reasoning: string; json?: unknown; sse: boolean } {
  const trimmed = body.trim();
  try {
    const json = JSON.parse(trimmed) as unknown;
    let text = '';
    let reasoning = '';
    if (isObj(json)) {
      if (Array.isArray(json.choices)) {
        for (const c of json.choices) {
          if (!isObj(c) || !isObj(c.message)) continue;
          text += contentText(c.message.content);
          if (typeof c.message.reasoning_content === 'string') reasoning += c.message.reasoning_content;
          if (Array.isArray(c.message.tool_calls))
            for (const tc of c.message.tool_calls) if (isObj(tc) && isObj(tc.function)) text += `\n[tool call] ${str(tc.function.name)}(${str(tc.function.arguments ?? '')})`;
        }
      } else if (Array.isArray(json.content)) {
        for (const b of json.content) {
          if (isObj(b) && b.type === 'thinking') reasoning += str(b.thinking ?? '');
          else text += contentText([b]);
        }
      } else if (isObj(json.error)) {
        text = str(json.error.message ?? JSON.stringify(json.error));
      }
    }
    return { text: text.trim(), reasoning, json, sse: false };
  } catch {
    // Not JSON: an SSE transcript, or a body cut to size.
  }
  const events = sseTranscript(body);
  if (!events.length) return { text: '', reasoning: '', sse: false };
  let text = '';
  let reasoning = '';
  for (const e of events) {
    if (e.data === '[DONE]') continue;
    let d: unknown;
    try {
      d = JSON.parse(e.data);
    } catch {
      continue;
    }
    if (!isObj(d)) continue;
    if (Array.isArray(d.choices)) {
      for (const c of d.choices) {
        if (!isObj(c) || !isObj(c.delta)) continue;
        if (typeof c.delta.content === 'string') text += c.delta.content;
        if (typeof c.delta.reasoning_content === 'string') reasoning += c.delta.reasoning_content;
        if (Array.isArray(c.delta.tool_calls))
          for (const tc of c.delta.tool_calls) if (isObj(tc) && isObj(tc.function)) text += `${tc.function.name ? `\n[tool call] ${str(tc.function.name)} ` : ''}${str(tc.function.arguments ?? '')}`;
      }
    } else if (d.type === 'content_block_delta' && isObj(d.delta)) {
      if (typeof d.delta.text === 'string') text += d.delta.text;
      if (typeof d.delta.thinking === 'string') reasoning += d.delta.thinking;
      if (typeof d.delta.partial_json === 'string') text += d.delta.partial_json;
    } else if (d.type === 'content_block_start' && isObj(d.content_block) && d.content_block.type === 'tool_use') {
      text += `\n[tool call] ${str(d.content_block.name)} `;
    }
    if (isObj(d.error)) text += `\n[error] ${str(d.error.message ?? JSON.stringify(d.error))}`;
  }
  return { text: text.trim(), reasoning, sse: true };
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="dl-row">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

export default function LogDetail({ id }: { id: string }) {
  const { isAdmin } = useAuth();
  const { t } = useI18n();
  const f = useFormat();
  const base = isAdmin ? '/admin/requests' : '/v1/me/requests';
  const detail = useLoad((signal) => api<RequestDetail>(`${base}/${encodeURIComponent(id)}`, { signal }), [base, id]);
  const d = detail.data;
  const r = d?.request;

  return (
    <>
      <p>
        <a href={href('logs')}>← {t('log.back')}</a>
      </p>
      <PageHeader title={t('log.title', { id })} />
      <ErrorNotice error={detail.error} onRetry={detail.reload} />
      <Loading show={detail.loading && !d} />
      {d && r && (
        <div className="detail" data-testid="log-detail">
          <section className="card" aria-labelledby="sum-title">
            <h2 id="sum-title">{t('log.summary')}</h2>
            <dl className="dl">
              <Row label={t('logs.time')}>{f.dateTime(r.ts)}</Row>
              <Row label={t('logs.model')}>
                <span className="mono">{r.model}</span>
              </Row>
              <Row label={t('logs.status')}>
                <StatusBadge status={r.status} /> {r.error_kind && <ErrorKind kind={r.error_kind} t={t} />}
              </Row>
              <Row label={t('logs.endpoint')}>
                <span className="mono">{r.endpoint}</span> {r.stream ? `· ${t('log.streamed')}` : ''}
              </Row>
              <Row label={t('logs.provider')}>
                <span className="mono">{[r.provider, r.deployment].filter(Boolean).join(' / ') || '—'}</span>
              </Row>
              <Row label={t('logs.tokens')}>
                {f.int(r.input_tokens)} / {f.int(r.output_tokens)}
              </Row>
              <Row label={t('log.cachedReasoning')}>
                {f.int(r.cached_input_tokens)} / {f.int(r.reasoning_tokens)}
              </Row>
              <Row label={t('logs.cost')}>{f.usd(r.cost_usd)}</Row>
              <Row label={t('logs.attempts')}>{f.int(r.attempts)}</Row>
              {isAdmin && (
                <Row label={t('logs.key')}>
                  <span className="mono">{r.key_id ?? '—'}</span>
                </Row>
              )}
            </dl>
          </section>
          <section className="card" aria-labelledby="timing-title">
            <h2 id="timing-title">{t('log.timings')}</h2>
            <Timing ttft={r.ttft_ms} total={r.latency_ms} t={t} f={f} />
          </section>
          {d.attempts?.length > 0 && (
            <section className="card" aria-labelledby="att-title">
              <h2 id="att-title">{t('log.attempts')}</h2>
              <div className="table-wrap">
                <table data-testid="attempts-table">
                  <thead>
                    <tr>
                      <th scope="col" className="num">
                        {t('log.attempt')}
                      </th>
                      <th scope="col">{t('logs.provider')}</th>
                      <th scope="col">{t('logs.status')}</th>
                      <th scope="col">{t('log.errorKind')}</th>
                      <th scope="col" className="num">
                        {t('logs.latency')}
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.attempts.map((a) => (
                      <tr key={a.attempt}>
                        <td className="num">{a.attempt}</td>
                        <td className="mono">{[a.provider, a.deployment].filter(Boolean).join(' / ') || '—'}</td>
                        <td>
                          <StatusBadge status={a.status} />
                        </td>
                        <td>{a.error_kind ? <ErrorKind kind={a.error_kind} t={t} /> : '—'}</td>
                        <td className="num">{f.ms(a.latency_ms)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          )}
          <Bodies bodies={d.bodies} t={t} />
          {d.trace && <Trace steps={d.trace.steps} summary={d.trace.summary} t={t} f={f} />}
        </div>
      )}
    </>
  );
}

function Timing({ ttft, total, t, f }: { ttft: number | null; total: number | null; t: Translate; f: Formatters }) {
  const share = ttft !== null && total ? Math.min(1, ttft / total) : null;
  return (
    <>
      <dl className="dl">
        <Row label={t('log.ttft')}>{f.ms(ttft)}</Row>
        <Row label={t('log.total')}>{f.ms(total)}</Row>
      </dl>
      {total ? (
        <div className="timing" aria-hidden="true">
          {share !== null && <div className="timing-ttft" style={{ width: `${(share * 100).toFixed(1)}%` }} />}
          <div className="timing-rest" />
        </div>
      ) : null}
    </>
  );
}

function Bodies({ bodies, t }: { bodies: RequestDetail['bodies']; t: Translate }) {
  if (!bodies) {
    return (
      <section className="card" aria-labelledby="msg-title">
        <h2 id="msg-title">{t('log.messages')}</h2>
        <p className="muted">{t('log.noBodies')}</p>
      </section>
    );
  }
  const messages = parseRequestMessages(bodies.request);
  const response = parseResponse(bodies.response);
  return (
    <>
      <section className="card" aria-labelledby="msg-title">
        <h2 id="msg-title">{t('log.messages')}</h2>
        {messages && messages.length ? (
          <ol className="messages" data-testid="messages">
            {messages.map((m, i) => (
              <li key={i} className={`message message-${m.role}`} data-role={m.role}>
                <div className="message-role">
                  {labelOf(t, 'role.', m.role)}
                  {m.name ? ` (${m.name})` : ''}
                </div>
                <div className="message-text">{m.text}</div>
              </li>
            ))}
          </ol>
        ) : (
          <p className="muted">{t('log.noMessages')}</p>
        )}
        <details>
          <summary>{t('log.rawRequest')}</summary>
          <pre className="code">{pretty(bodies.request)}</pre>
        </details>
      </section>
      <section className="card" aria-labelledby="resp-title">
        <h2 id="resp-title">{t('log.response')}</h2>
        {response.reasoning && (
          <details>
            <summary>{t('pg.reasoning')}</summary>
            <div className="message-text muted">{response.reasoning}</div>
          </details>
        )}
        {response.text && (
          <div className="message message-assistant">
            <div className="message-text" data-testid="response-text">
              {response.text}
            </div>
          </div>
        )}
        <details open={!response.text}>
          <summary>{t('log.raw')}</summary>
          <pre className="code">{response.sse ? bodies.response : pretty(bodies.response)}</pre>
        </details>
      </section>
    </>
  );
}

function usageText(u: Record<string, number> | undefined, f: Formatters): string {
  if (!u) return '—';
  const pick = (...names: string[]) => names.map((n) => u[n]).find((v) => typeof v === 'number');
  const input = pick('inputTokens', 'input_tokens', 'prompt_tokens', 'input');
  const output = pick('outputTokens', 'output_tokens', 'completion_tokens', 'output');
  if (input !== undefined || output !== undefined) return `${f.int(input)} / ${f.int(output)}`;
  return Object.entries(u)
    .map(([k, v]) => `${k} ${f.int(v)}`)
    .join(', ');
}

function Trace({ steps, summary, t, f }: { steps: TraceStep[]; summary: unknown; t: Translate; f: Formatters }) {
  return (
    <section className="card" aria-labelledby="trace-title">
      <h2 id="trace-title">{t('log.trace')}</h2>
      <div className="table-wrap">
        <table data-testid="trace-table">
          <thead>
            <tr>
              <th scope="col" className="num">
                #
              </th>
              <th scope="col">{t('log.stage')}</th>
              <th scope="col">{t('logs.model')}</th>
              <th scope="col">{t('log.text')}</th>
              <th scope="col" className="num">
                {t('log.usage')}
              </th>
              <th scope="col" className="num">
                {t('logs.cost')}
              </th>
              <th scope="col" className="num">
                {t('logs.latency')}
              </th>
              <th scope="col">{t('log.error')}</th>
            </tr>
          </thead>
          <tbody>
            {steps.map((s, i) => (
              <tr key={i}>
                <td className="num">{i + 1}</td>
                <td data-stage={s.stage}>{stageLabel(t, s.stage)}</td>
                <td className="mono">{s.model}</td>
                <td className="trace-text">
                  {s.text && s.text.length > 160 ? (
                    <details>
                      <summary>{s.text.slice(0, 160)}…</summary>
                      <div className="message-text">{s.text}</div>
                    </details>
                  ) : (
                    (s.text ?? '')
                  )}
                </td>
                <td className="num">{usageText(s.usage, f)}</td>
                <td className="num">{f.usd(s.costUsd)}</td>
                <td className="num">{f.ms(s.latencyMs)}</td>
                <td className="error-message">{s.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {summary !== undefined && summary !== null && (
        <>
          <h3>{t('log.traceSummary')}</h3>
          {isObj(summary) ? (
            <dl className="dl" data-testid="trace-summary">
              {Object.entries(summary).map(([k, v]) => (
                <Row key={k} label={labelOf(t, 'trace.', k)}>
                  {typeof v === 'number' ? (
                    /cost/i.test(k) ? f.usd(v) : /ms$/i.test(k) ? f.ms(v) : k === 'agreement' ? f.percent(v) : f.num(v, 4)
                  ) : typeof v === 'boolean' ? (
                    v ? t('common.yes') : t('common.no')
                  ) : typeof v === 'string' ? (
                    v
                  ) : (
                    <span className="mono">{JSON.stringify(v)}</span>
                  )}
                </Row>
              ))}
            </dl>
          ) : typeof summary === 'string' ? (
            <p>{summary}</p>
          ) : (
            <pre className="code">{JSON.stringify(summary, null, 2)}</pre>
          )}
        </>
      )}
    </section>
  );
}

/** An error kind in words, with the kind itself as a tooltip and data attribute for support. */
function ErrorKind({ kind, t }: { kind: string; t: Translate }) {
  return (
    <span className="muted" title={kind} data-error-kind={kind}>
      {labelOf(t, 'errorKind.', kind)}
    </span>
  );
}

/** A sub-call's stage in words; `subtask:<id>` names its task. */
function stageLabel(t: Translate, stage: string): string {
  const sub = /^subtask:(.*)$/.exec(stage);
  if (sub) return t('stage.subtask', { id: sub[1]! });
  return labelOf(t, 'stage.', stage);
}
