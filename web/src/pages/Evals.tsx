/**
 * Evaluations: the signed-in key's eval runs (the admin sees every run), refreshed while one is
 * under way, with a cancel button on those, and a form that submits a suite. `#/evals/<id>`
 * opens a run (EvalsRun.tsx).
 */
import { useEffect, useId, useState } from 'react';
import type { FormEvent } from 'react';
import { api } from '../api';
import type { List, Model } from '../api';
import { Badge, ErrorNotice, Loading, PageHeader } from '../components/ui';
import { exampleSuite, isActive } from '../evals';
import type { EvalRun, Page } from '../evals';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import { href } from '../route';
import EvalsRun from './EvalsRun';

/** How often the list asks again while a run is queued or running. */
const POLL_MS = 2_000;

export default function Evals({ params }: { params: string[] }) {
  const id = params[0];
  return id ? <EvalsRun key={id} id={id} /> : <RunList />;
}

export function RunStatusBadge({ run }: { run: Pick<EvalRun, 'status' | 'stop_reason'> }) {
  const { t } = useI18n();
  const tone = run.status === 'completed' ? 'good' : run.status === 'failed' || run.status === 'interrupted' ? 'bad' : run.status === 'cancelled' ? 'neutral' : 'warn';
  return (
    <Badge tone={tone}>
      {t(`eval.status.${run.status}`)}
      {run.stop_reason === 'max_cost' && ` · ${t('eval.stoppedAtCeiling')}`}
    </Badge>
  );
}

/** Cancels a queued or running run; the hub answers it as it stands. */
export async function cancelRun(id: string): Promise<EvalRun> {
  return api<EvalRun>(`/v1/evals/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
}

function RunList() {
  const { t } = useI18n();
  const f = useFormat();
  const [creating, setCreating] = useState(false);
  const [polling, setPolling] = useState(false);
  const [cancelling, setCancelling] = useState<string>();
  const [actionError, setActionError] = useState<Error>();
  const runs = useLoad((signal) => api<Page<EvalRun>>('/v1/evals/runs?limit=100', { signal }), [], polling ? POLL_MS : undefined);
  const list = runs.data?.data ?? [];
  const active = list.some((r) => isActive(r.status));
  useEffect(() => setPolling(active), [active]);

  async function cancel(id: string) {
    setCancelling(id);
    setActionError(undefined);
    try {
      await cancelRun(id);
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setCancelling(undefined);
      runs.reload();
    }
  }

  return (
    <>
      <PageHeader title={t('eval.title')}>
        <button type="button" className="btn btn-primary" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          {t('eval.new')}
        </button>
      </PageHeader>
      <p className="lead muted">{t('eval.intro')}</p>
      {creating && (
        <NewRun
          onStarted={(run) => {
            setCreating(false);
            location.hash = href('evals', run.id);
          }}
          onCancel={() => setCreating(false)}
        />
      )}
      <section className="card" aria-labelledby="runs-title">
        <div className="card-head">
          <h2 id="runs-title">{t('eval.runs')}</h2>
          {active && <span className="muted small">{t('eval.polling')}</span>}
        </div>
        <ErrorNotice error={runs.error} onRetry={runs.reload} />
        <ErrorNotice error={actionError} />
        <Loading show={runs.loading && !runs.data} />
        {runs.data && list.length === 0 && <p data-testid="no-runs">{t('eval.noRuns')}</p>}
        {runs.data?.has_more && <p className="muted small">{t('eval.moreRuns', { n: f.int(list.length) })}</p>}
        {list.length > 0 && (
          <div className="table-wrap eval-table-wrap">
            <table data-testid="runs-table">
              <thead>
                <tr>
                  <th scope="col">{t('eval.description')}</th>
                  <th scope="col">{t('eval.status')}</th>
                  <th scope="col" className="num">
                    {t('eval.progress')}
                  </th>
                  <th scope="col" className="num" title={t('eval.passedHint')}>
                    {t('eval.passed')}
                  </th>
                  <th scope="col" className="num">
                    {t('eval.spend')}
                  </th>
                  <th scope="col">{t('eval.created')}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t('eval.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((r) => {
                  const name = r.description || r.id;
                  const graded = r.progress.done;
                  return (
                    <tr key={r.id} data-run-id={r.id} data-status={r.status}>
                      <th scope="row">
                        <a href={href('evals', r.id)}>{r.description || t('eval.untitled')}</a>
                        <div className="mono small muted">{r.id}</div>
                      </th>
                      <td>
                        <RunStatusBadge run={r} />
                        {r.error && <div className="small error-message">{r.error}</div>}
                      </td>
                      <td className="num" data-field="progress">
                        {t('eval.progressOf', { done: f.int(r.progress.done), planned: f.int(r.progress.planned) })}
                      </td>
                      <td className="num" data-field="passed">
                        {typeof r.pass_rate === 'number' ? f.percent(r.pass_rate) : graded ? f.percent((graded - r.progress.failures) / graded) : '—'}
                      </td>
                      <td className="num">{f.usd(r.spent_usd)}</td>
                      <td>{f.shortDateTime(r.created_at * 1000)}</td>
                      <td>
                        {isActive(r.status) && (
                          <button type="button" className="btn btn-small" onClick={() => void cancel(r.id)} disabled={cancelling === r.id} aria-label={t('eval.cancelNamed', { name })}>
                            {t('eval.cancel')}
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

/** A number field's value for the API: undefined when left empty. */
function optionalNumber(text: string): number | undefined {
  const s = text.trim();
  return s === '' ? undefined : Number(s);
}

function NewRun({ onStarted, onCancel }: { onStarted: (run: EvalRun) => void; onCancel: () => void }) {
  const { t } = useI18n();
  const ids = { suite: useId(), repeat: useId(), concurrency: useId(), maxCost: useId() };
  const [suite, setSuite] = useState('');
  const [edited, setEdited] = useState(false);
  const [repeat, setRepeat] = useState('');
  const [concurrency, setConcurrency] = useState('');
  const [maxCost, setMaxCost] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const models = useLoad((signal) => api<List<Model>>('/v1/models', { signal }), []);
  // The example names the hub's own chat models once they are known, unless the user has typed.
  const chat = (models.data?.data ?? []).filter((m) => m.kind !== 'embedding').map((m) => m.id);
  const example = exampleSuite(chat);
  useEffect(() => {
    if (!edited) setSuite(example);
  }, [example, edited]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, unknown> = { suite };
      for (const [k, v] of [
        ['repeat', optionalNumber(repeat)],
        ['concurrency', optionalNumber(concurrency)],
        ['maxCostUsd', optionalNumber(maxCost)],
      ] as const) {
        if (v !== undefined) body[k] = v;
      }
      onStarted(await api<EvalRun>('/v1/evals/runs', { method: 'POST', body }));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="new-run-title">
      <h2 id="new-run-title">{t('eval.newTitle')}</h2>
      <form onSubmit={submit} className="form-grid eval-form">
        <div className="field span-all">
          <label htmlFor={ids.suite}>{t('eval.suite')}</label>
          <textarea
            id={ids.suite}
            className="mono eval-suite"
            value={suite}
            onChange={(e) => {
              setEdited(true);
              setSuite(e.target.value);
            }}
            rows={16}
            spellCheck={false}
            autoFocus
          />
          <span className="hint">{t('eval.suiteHint')}</span>
        </div>
        <div className="field">
          <label htmlFor={ids.repeat}>{t('eval.repeat')}</label>
          <input id={ids.repeat} type="number" inputMode="numeric" min={1} step={1} value={repeat} onChange={(e) => setRepeat(e.target.value)} placeholder="1" />
          <span className="hint">{t('eval.repeatHint')}</span>
        </div>
        <div className="field">
          <label htmlFor={ids.concurrency}>{t('eval.concurrency')}</label>
          <input id={ids.concurrency} type="number" inputMode="numeric" min={1} step={1} value={concurrency} onChange={(e) => setConcurrency(e.target.value)} placeholder={t('eval.hubDefault')} />
        </div>
        <div className="field">
          <label htmlFor={ids.maxCost}>{t('eval.maxCost')}</label>
          <input id={ids.maxCost} type="number" inputMode="decimal" min={0} step="any" value={maxCost} onChange={(e) => setMaxCost(e.target.value)} placeholder={t('common.unlimited')} />
          <span className="hint">{t('eval.maxCostHint')}</span>
        </div>
        <div className="span-all">
          <ErrorNotice error={models.error ?? error} />
        </div>
        <div className="form-actions span-all">
          <button type="button" className="btn" onClick={onCancel}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy || suite.trim() === ''}>
            {busy ? t('eval.starting') : t('eval.start')}
          </button>
        </div>
      </form>
    </section>
  );
}
