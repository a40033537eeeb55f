/**
 * This run against another one, case by case, as `GET /v1/evals/compare` matches them (model,
 * prompt and vars): regressions first (passed in the baseline, fail here), then improvements,
 * then score changes. The baseline is picked from the key's other runs.
 */
import { useId, useState } from 'react';
import type { FormEvent } from 'react';
import { api, qs } from '../api';
import { Badge, ErrorNotice } from '../components/ui';
import { caseLabel, truncate } from '../evals';
import type { CompareEntry, Comparison, EvalRun, Page } from '../evals';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n';

export function CompareRuns({ run }: { run: EvalRun }) {
  const { t } = useI18n();
  const f = useFormat();
  const pickId = useId();
  const [baseline, setBaseline] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [result, setResult] = useState<Comparison>();
  const runs = useLoad((signal) => api<Page<EvalRun>>('/v1/evals/runs?limit=100', { signal }), []);
  const others = (runs.data?.data ?? []).filter((r) => r.id !== run.id);

  async function compare(e: FormEvent) {
    e.preventDefault();
    if (!baseline) return;
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api<Comparison>(`/v1/evals/compare${qs({ a: baseline, b: run.id })}`));
    } catch (err) {
      setResult(undefined);
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  const s = result?.summary;
  return (
    <section className="card" aria-labelledby="compare-title">
      <h2 id="compare-title">{t('eval.compare')}</h2>
      <p className="muted small">{t('eval.compareHint')}</p>
      <form className="eval-compare-form" onSubmit={compare}>
        <div className="field">
          <label htmlFor={pickId}>{t('eval.baseline')}</label>
          <select id={pickId} value={baseline} onChange={(e) => setBaseline(e.target.value)}>
            <option value="">{t('eval.pickRun')}</option>
            {others.map((r) => (
              <option key={r.id} value={r.id}>
                {truncate(r.description || t('eval.untitled'), 60)} · {f.shortDateTime(r.created_at * 1000)} · {r.id}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="btn btn-primary" disabled={busy || !baseline}>
          {t('eval.compareRun')}
        </button>
      </form>
      <ErrorNotice error={runs.error ?? error} />
      {result && s && (
        <div data-testid="comparison">
          <p data-field="compare-summary">
            {t('eval.compareSummary', { matched: f.int(s.matched), regressions: f.int(s.regressions), improvements: f.int(s.improvements), scoreChanges: f.int(s.scoreChanges), unchanged: f.int(s.unchanged) })}
            {(s.onlyInA > 0 || s.onlyInB > 0) && ` · ${t('eval.onlyIn', { a: f.int(s.onlyInA), b: f.int(s.onlyInB) })}`}
          </p>
          {s.regressions + s.improvements + s.scoreChanges === 0 && <p className="muted">{t('eval.noChanges')}</p>}
          <Entries kind="regressions" title="eval.regressions" list={result.regressions} />
          <Entries kind="improvements" title="eval.improvements" list={result.improvements} />
          <Entries kind="score" title="eval.scoreChanges" list={result.scoreChanges} />
        </div>
      )}
    </section>
  );
}

function Entries({ kind, title, list }: { kind: string; title: MessageKey; list: CompareEntry[] }) {
  const { t } = useI18n();
  const f = useFormat();
  if (list.length === 0) return null;
  return (
    <>
      <h3>
        {t(title)} <span className="muted">({f.int(list.length)})</span>
      </h3>
      <div className="table-wrap">
        <table className="eval-compare" data-kind={kind}>
          <thead>
            <tr>
              <th scope="col">{t('eval.model')}</th>
              <th scope="col">{t('eval.case')}</th>
              <th scope="col">{t('eval.before')}</th>
              <th scope="col">{t('eval.after')}</th>
              <th scope="col">{t('eval.answerHere')}</th>
            </tr>
          </thead>
          <tbody>
            {list.map((e, i) => (
              <tr key={i} data-testid="compare-entry">
                <td className="mono small">{e.provider}</td>
                <th scope="row" className="eval-case">
                  {caseLabel({ description: e.description ?? null, vars: e.vars })}
                </th>
                <td>
                  <Side s={e.a} />
                </td>
                <td>
                  <Side s={e.b} />
                </td>
                <td className="eval-text small">{truncate(e.b.output, 300)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Side({ s }: { s: CompareEntry['a'] }) {
  const { t } = useI18n();
  const f = useFormat();
  return (
    <span className="eval-side">
      <Badge tone={s.success ? 'good' : 'bad'}>{t(s.success ? 'eval.pass' : 'eval.fail')}</Badge> {f.num(s.score, 2)}
      {s.runs > 1 && <span className="small muted"> ({f.int(s.passes)}/{f.int(s.runs)})</span>}
    </span>
  );
}
