/**
 * One eval run: its status (refreshed while it runs, with a cancel button), its reports to
 * download, the quality-versus-cost chart per model (EvalsChart.tsx), the matrix of cases ×
 * models over the paged results with a panel per cell (EvalsCell.tsx), and a comparison with
 * another run (EvalsCompare.tsx); its reports download with the key. Everything a model or a
 * suite wrote is shown as text.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { CSSProperties } from 'react';
import { api, authHeaders, errorFrom, qs } from '../api';
import { ErrorNotice, Loading, PageHeader } from '../components/ui';
import { buildMatrix, caseLabel, isActive } from '../evals';
import type { EvalCell, EvalRun, MatrixCell, Page, ReportFormat, Row } from '../evals';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import { href } from '../route';
import { cancelRun, RunStatusBadge } from './Evals';
import { CellPanel } from './EvalsCell';
import { QualityCostChart } from './EvalsChart';
import { CompareRuns } from './EvalsCompare';

const POLL_MS = 2_000;
/** Test cases a page of the matrix adds (its cells: this × prompts × models × repeat, at most 1,000). */
const ROWS_PER_PAGE = 25;
const MAX_PAGE = 1000;

const EXT: Record<ReportFormat, string> = { json: 'json', junit: 'xml', html: 'html' };

/** Fetches a run's report with the signed-in key (so no plain link) and saves it as `<run id>.<ext>`. */
async function downloadReport(runId: string, format: ReportFormat): Promise<void> {
  const res = await fetch(`/v1/evals/runs/${encodeURIComponent(runId)}/report?format=${format}`, { headers: authHeaders() });
  if (!res.ok) throw await errorFrom(res);
  const url = URL.createObjectURL(await res.blob());
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = `${runId}.${EXT[format]}`;
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    // Revoked once the click has been handled: the download keeps its own copy.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}

/** The first `count` results of a run, in suite order, over as many API pages as that takes. */
async function firstResults(path: string, count: number, signal: AbortSignal): Promise<{ cells: EvalCell[]; hasMore: boolean }> {
  const cells: EvalCell[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await api<Page<EvalCell>>(`${path}/results${qs({ limit: Math.min(MAX_PAGE, count - cells.length), after })}`, { signal });
    cells.push(...page.data);
    if (!page.has_more || page.data.length === 0) return { cells, hasMore: page.has_more };
    if (cells.length >= count) return { cells, hasMore: true };
    after = page.last_id ?? undefined;
  }
}

export default function EvalsRun({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const path = `/v1/evals/runs/${encodeURIComponent(id)}`;
  const [polling, setPolling] = useState(false);
  const run = useLoad((signal) => api<EvalRun>(path, { signal }), [path], polling ? POLL_MS : undefined);
  const r = run.data;
  const active = !!r && isActive(r.status);
  useEffect(() => setPolling(active), [active]);

  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<Error>();
  async function act(work: () => Promise<unknown>) {
    setBusy(true);
    setActionError(undefined);
    try {
      await work();
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <p className="small">
        <a href={href('evals')}>← {t('eval.allRuns')}</a>
      </p>
      <PageHeader title={r ? r.description || t('eval.untitled') : t('eval.title')}>
        {active && (
          <button type="button" className="btn btn-danger" disabled={busy} onClick={() => void act(() => cancelRun(id).then(run.reload))}>
            {t('eval.cancel')}
          </button>
        )}
      </PageHeader>
      <ErrorNotice error={run.error} onRetry={run.reload} />
      <ErrorNotice error={actionError} />
      <Loading show={run.loading && !r} />
      {r && (
        <>
          <dl className="kb-summary eval-summary" data-testid="run-summary">
            <div>
              <dt>{t('eval.id')}</dt>
              <dd className="mono">{r.id}</dd>
            </div>
            <div>
              <dt>{t('eval.status')}</dt>
              <dd data-field="status" data-status={r.status}>
                <RunStatusBadge run={r} />
                {r.error && <div className="small error-message">{r.error}</div>}
              </dd>
            </div>
            <div>
              <dt>{t('eval.progress')}</dt>
              <dd data-field="progress">
                {t('eval.progressLong', { done: f.int(r.progress.done), planned: f.int(r.progress.planned), failures: f.int(r.progress.failures) })}
              </dd>
            </div>
            <div>
              <dt>{t('eval.passRate')}</dt>
              <dd data-field="pass-rate">
                {r.stats ? t('eval.passRateLong', { rate: f.percent(r.stats.pass_rate), threshold: f.percent(r.stats.threshold) }) : '—'}
                {r.stats && r.status === 'completed' && <span className={r.stats.threshold_met ? 'eval-met' : 'eval-missed'}> · {t(r.stats.threshold_met ? 'eval.met' : 'eval.missed')}</span>}
              </dd>
            </div>
            <div>
              <dt>{t('eval.spend')}</dt>
              <dd data-field="spend">
                {f.usd(r.spent_usd)}
                {r.options.maxCostUsd !== null && <span className="muted"> / {f.usd(r.options.maxCostUsd)}</span>}
              </dd>
            </div>
            <div>
              <dt>{t('eval.repeat')}</dt>
              <dd>{f.int(r.options.repeat)}</dd>
            </div>
            <div>
              <dt>{t('eval.created')}</dt>
              <dd>{f.dateTime(r.created_at * 1000)}</dd>
            </div>
          </dl>
          <div className="eval-reports" role="group" aria-label={t('eval.reports')}>
            <span className="muted small">{t('eval.labelled', { label: t('eval.reports') }).trim()}</span>
            {(['json', 'junit', 'html'] as ReportFormat[]).map((fmt) => (
              <button key={fmt} type="button" className="btn btn-small" disabled={busy} onClick={() => void act(() => downloadReport(id, fmt))} data-testid={`report-${fmt}`}>
                {t(`eval.report.${fmt}`)}
              </button>
            ))}
          </div>
          <QualityCostChart models={r.stats?.models ?? []} />
          <Results path={path} run={r} />
          <CompareRuns run={r} />
        </>
      )}
    </>
  );
}

/** A cell's look: its score drives the colour (`--score`); an error has its own style. */
function cellState(m: MatrixCell): 'pass' | 'fail' | 'error' {
  return m.error ? 'error' : m.passAll ? 'pass' : 'fail';
}

function Results({ path, run }: { path: string; run: EvalRun }) {
  const { t } = useI18n();
  const f = useFormat();
  const stats = run.stats;
  const perTest = Math.max(1, (stats?.prompts?.length ?? 1) * Math.max(1, stats?.models?.length ?? 1) * run.options.repeat);
  const page = Math.min(MAX_PAGE, Math.max(perTest, perTest * ROWS_PER_PAGE));
  const [wanted, setWanted] = useState(page);
  const [state, setState] = useState<{ cells: EvalCell[]; hasMore: boolean }>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(false);
  const [open, setOpen] = useState<{ row: Row; column: string }>();
  const ctl = useRef<AbortController | undefined>(undefined);

  // Results come in suite order, not in the order they finish: while a run is under way the
  // loaded range is read again from the start, so a cell that finished late still shows.
  const load = useCallback(
    (count: number) => {
      ctl.current?.abort();
      const c = (ctl.current = new AbortController());
      setLoading(true);
      firstResults(path, count, c.signal).then(
        (s) => {
          if (c.signal.aborted) return;
          setState(s);
          setError(undefined);
          setLoading(false);
        },
        (err: Error) => {
          if (c.signal.aborted) return;
          setError(err);
          setLoading(false);
        },
      );
    },
    [path],
  );
  useEffect(() => load(wanted), [load, wanted, run.progress.done, run.status]);
  useEffect(() => () => ctl.current?.abort(), []);

  const matrix = buildMatrix(state?.cells ?? []);
  const repeat = run.options.repeat;
  const openCell = open ? open.row.cells.get(open.column) : undefined;
  const openColumn = open ? matrix.columns.find((c) => c.key === open.column) : undefined;

  return (
    <section className="card" aria-labelledby="matrix-title">
      <div className="card-head">
        <h2 id="matrix-title">{t('eval.matrix')}</h2>
        {state && <span className="muted small">{t('eval.showing', { n: f.int(state.cells.length), total: f.int(run.progress.done) })}</span>}
      </div>
      <p className="muted small">{t(repeat > 1 ? 'eval.matrixHintRepeat' : 'eval.matrixHint', { n: repeat })}</p>
      <ErrorNotice error={error} onRetry={() => load(wanted)} />
      <Loading show={loading && !state} />
      {state && state.cells.length === 0 && <p data-testid="no-results">{t('eval.noResults')}</p>}
      {matrix.rows.length > 0 && (
        <div className="table-wrap eval-matrix-wrap">
          <table className="eval-matrix" data-testid="matrix">
            <thead>
              <tr>
                <th scope="col">{t('eval.case')}</th>
                {matrix.columns.map((c) => (
                  <th scope="col" key={c.key} data-model={c.provider.id} title={c.provider.id}>
                    <span className="eval-col-model">{c.provider.label || c.provider.id}</span>
                    {matrix.manyPrompts && <span className="eval-col-prompt small muted">{c.promptLabel}</span>}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {matrix.rows.map((row) => {
                const label = caseLabel(row);
                return (
                  <tr key={row.testIdx} data-test-idx={row.testIdx}>
                    <th scope="row" className="eval-case" title={caseLabel(row, 1000)}>
                      <span className="muted small">#{row.testIdx + 1}</span> {label}
                    </th>
                    {matrix.columns.map((c) => {
                      const m = row.cells.get(c.key);
                      if (!m) {
                        return (
                          <td key={c.key} className="eval-cell eval-cell-none" data-state="none">
                            <span className="muted small">{t('eval.notRun')}</span>
                          </td>
                        );
                      }
                      const st = cellState(m);
                      const model = c.provider.label || c.provider.id;
                      return (
                        <td key={c.key} className={`eval-cell eval-cell-${st}`} data-state={st} data-model={c.provider.id} data-score={m.meanScore} style={{ '--score': m.meanScore } as CSSProperties}>
                          <button type="button" className="eval-cell-btn" onClick={() => setOpen({ row, column: c.key })} aria-label={t('eval.openCell', { model, case: label })} aria-haspopup="dialog">
                            <span className="eval-cell-main">{st === 'error' ? t('eval.error') : `${t(m.passAll ? 'eval.pass' : 'eval.fail')} ${f.num(m.meanScore, 2)}`}</span>
                            {repeat > 1 && (
                              <span className="eval-cell-sub" data-field="pass-at">
                                {t('eval.passAt', { p1: f.percent(m.passAt1), n: repeat, all: m.passAll && m.runs === repeat ? '✓' : '✗' })}
                              </span>
                            )}
                          </button>
                        </td>
                      );
                    })}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {state?.hasMore && (
        <div className="form-actions">
          <button type="button" className="btn" disabled={loading} onClick={() => setWanted((w) => w + page)} data-testid="load-more">
            {loading ? t('common.loading') : t('eval.loadMore')}
          </button>
        </div>
      )}
      {open && openCell && openColumn && <CellPanel cell={openCell} model={openColumn.provider.label || openColumn.provider.id} caseText={caseLabel(open.row)} onClose={() => setOpen(undefined)} />}
    </section>
  );
}
