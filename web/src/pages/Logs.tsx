/** The request log: filter and page through requests; `#/logs/<id>` opens one. */
import { lazy, Suspense, useId, useState } from 'react';
import type { FormEvent } from 'react';
import { api, qs } from '../api';
import type { KeyInfo, List, Model, RequestRow } from '../api';
import { useAuth } from '../auth';
import { ErrorNotice, Loading, PageHeader, StatusBadge } from '../components/ui';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { labelOf, useI18n } from '../i18n';
import { href } from '../route';

const LogDetail = lazy(() => import('./LogDetail'));

const STATUSES = [200, 400, 401, 403, 404, 408, 413, 429, 499, 500, 502, 503, 504];
const PAGE_SIZES = [10, 25, 50, 100];

interface Filters {
  model: string;
  key_id: string;
  status: string;
  limit: number;
}

const NO_FILTERS: Filters = { model: '', key_id: '', status: '', limit: 50 };

/** Kept across visits, so coming back from a request shows the same page of the same filter. */
let remembered: { filters: Filters; cursors: (string | undefined)[] } = { filters: NO_FILTERS, cursors: [undefined] };

export default function Logs({ params }: { params: string[] }) {
  if (params[0]) {
    return (
      <Suspense fallback={<Loading />}>
        <LogDetail id={params[0]} />
      </Suspense>
    );
  }
  return <LogList />;
}

function LogList() {
  const { isAdmin } = useAuth();
  const { t } = useI18n();
  const f = useFormat();
  const ids = useId();
  const [filters, setFilters] = useState<Filters>(remembered.filters);
  const [draft, setDraft] = useState<Filters>(remembered.filters);
  const [cursors, setCursors] = useState<(string | undefined)[]>(remembered.cursors);
  remembered = { filters, cursors };
  const cursor = cursors[cursors.length - 1];
  const base = isAdmin ? '/admin/requests' : '/v1/me/requests';

  const page = useLoad(
    (signal) =>
      api<List<RequestRow> & { next_before: string | null }>(
        `${base}${qs({ limit: filters.limit, before: cursor, model: filters.model.trim(), key_id: isAdmin ? filters.key_id : '', status: filters.status })}`,
        { signal },
      ),
    [base, cursor, filters.model, filters.key_id, filters.status, filters.limit],
  );
  const models = useLoad((signal) => api<List<Model>>('/v1/models', { signal }).then((r) => r.data), []);
  const keys = useLoad((signal) => (isAdmin ? api<List<KeyInfo>>('/admin/keys', { signal }).then((r) => r.data) : Promise.resolve([] as KeyInfo[])), [isAdmin]);
  const keyName = new Map((keys.data ?? []).map((k) => [k.id, k.name]));

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters(draft);
    setCursors([undefined]);
  }
  function reset() {
    setDraft(NO_FILTERS);
    setFilters(NO_FILTERS);
    setCursors([undefined]);
  }

  const rows = page.data?.data ?? [];
  return (
    <>
      <PageHeader title={t('logs.title')} />
      <form className="card filters" onSubmit={apply} aria-label={t('logs.filters')}>
        <div className="field">
          <label htmlFor={`${ids}-model`}>{t('logs.model')}</label>
          <input id={`${ids}-model`} list={`${ids}-models`} value={draft.model} onChange={(e) => setDraft({ ...draft, model: e.target.value })} spellCheck={false} />
          <datalist id={`${ids}-models`}>
            {(models.data ?? []).map((m) => (
              <option key={m.id} value={m.id} />
            ))}
          </datalist>
        </div>
        {isAdmin && (
          <div className="field">
            <label htmlFor={`${ids}-key`}>{t('logs.key')}</label>
            <select id={`${ids}-key`} value={draft.key_id} onChange={(e) => setDraft({ ...draft, key_id: e.target.value })}>
              <option value="">{t('common.all')}</option>
              {(keys.data ?? []).map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name} ({k.prefix})
                </option>
              ))}
            </select>
          </div>
        )}
        <div className="field">
          <label htmlFor={`${ids}-status`}>{t('logs.status')}</label>
          <select id={`${ids}-status`} value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value })}>
            <option value="">{t('logs.anyStatus')}</option>
            <option value="ok">{t('logs.statusOk')}</option>
            <option value="error">{t('logs.statusError')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={String(s)}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${ids}-limit`}>{t('logs.pageSize')}</label>
          <select id={`${ids}-limit`} value={draft.limit} onChange={(e) => setDraft({ ...draft, limit: Number(e.target.value) })}>
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div className="filter-actions">
          <button type="submit" className="btn btn-primary">
            {t('common.apply')}
          </button>
          <button type="button" className="btn" onClick={reset}>
            {t('common.reset')}
          </button>
        </div>
      </form>
      <ErrorNotice error={page.error} onRetry={page.reload} />
      <Loading show={page.loading && !page.data} />
      {page.data && (
        <section className="card" aria-label={t('logs.title')} aria-busy={page.loading}>
          {rows.length === 0 ? (
            <p>{t('logs.none')}</p>
          ) : (
            <div className="table-wrap">
              <table data-testid="logs-table" className="logs-table">
                <thead>
                  <tr>
                    <th scope="col">{t('logs.time')}</th>
                    <th scope="col">{t('logs.model')}</th>
                    <th scope="col">{t('logs.status')}</th>
                    <th scope="col" className="num">
                      {t('logs.tokens')}
                    </th>
                    <th scope="col" className="num">
                      {t('logs.cost')}
                    </th>
                    <th scope="col" className="num" data-col="latency">
                      {t('logs.latency')}
                    </th>
                    <th scope="col" className="num" data-col="ttft">
                      {t('logs.ttft')}
                    </th>
                    <th scope="col" className="num" data-col="attempts">
                      {t('logs.attempts')}
                    </th>
                    <th scope="col">{t('logs.endpoint')}</th>
                    <th scope="col">{t('logs.provider')}</th>
                    {isAdmin && <th scope="col">{t('logs.key')}</th>}
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.request_id} data-request-id={r.request_id}>
                      <th scope="row">
                        <a href={href('logs', r.request_id)} aria-label={t('logs.open', { id: r.request_id })}>
                          {f.shortDateTime(r.ts)}
                        </a>
                      </th>
                      <td className="mono wrap-name">{r.model}</td>
                      <td>
                        <StatusBadge status={r.status} />
                        {r.error_kind && (
                          <span className="muted small" title={r.error_kind} data-error-kind={r.error_kind}>
                            {' '}
                            {labelOf(t, 'errorKind.', r.error_kind)}
                          </span>
                        )}
                      </td>
                      <td className="num">
                        {f.int(r.input_tokens)} / {f.int(r.output_tokens)}
                      </td>
                      <td className="num">{f.usd(r.cost_usd)}</td>
                      <td className="num">{f.ms(r.latency_ms)}</td>
                      <td className="num">{f.ms(r.ttft_ms)}</td>
                      <td className="num">{f.int(r.attempts)}</td>
                      <td className="mono small wrap-name">
                        {r.endpoint}
                        {r.stream ? ` · ${t('logs.stream')}` : ''}
                      </td>
                      <td className="mono small wrap-name">{[r.provider, r.deployment].filter(Boolean).join(' / ') || '—'}</td>
                      {isAdmin && <td className="small wrap-name">{r.key_id ? (keyName.get(r.key_id) ?? r.key_id) : '—'}</td>}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav className="pager" aria-label={t('logs.page', { n: cursors.length })}>
            <button type="button" className="btn" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
              ← {t('logs.newer')}
            </button>
            <span className="muted">{t('logs.page', { n: f.int(cursors.length) })}</span>
            <button type="button" className="btn" disabled={!page.data.next_before} onClick={() => page.data?.next_before && setCursors([...cursors, page.data.next_before])}>
              {t('logs.older')} →
            </button>
          </nav>
        </section>
      )}
    </>
  );
}
