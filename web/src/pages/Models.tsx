/** The model catalog (searchable) and, for the admin, every deployment's live health. */
import { useId, useState } from 'react';
import { api } from '../api';
import type { DeploymentHealth, List, Model } from '../api';
import { useAuth } from '../auth';
import { Badge, ErrorNotice, Loading, PageHeader } from '../components/ui';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';

export function modalitiesText(m: Model['modalities']): string {
  if (!m) return '—';
  if (Array.isArray(m)) return m.join(', ');
  return `${(m.input ?? []).join(', ') || '—'} → ${(m.output ?? []).join(', ') || '—'}`;
}

export default function Models() {
  const { isAdmin } = useAuth();
  const { t } = useI18n();
  const f = useFormat();
  const [q, setQ] = useState('');
  const searchId = useId();
  const models = useLoad((signal) => api<List<Model>>('/v1/models', { signal }), []);
  const all = models.data?.data ?? [];
  const needle = q.trim().toLowerCase();
  const shown = needle ? all.filter((m) => m.id.toLowerCase().includes(needle) || m.owned_by?.toLowerCase().includes(needle)) : all;

  return (
    <>
      <PageHeader title={t('models.title')} />
      <section className="card" aria-labelledby="catalog-title">
        <div className="card-head">
          <h2 id="catalog-title">{t('models.catalog')}</h2>
          <div className="search">
            <label htmlFor={searchId}>{t('models.search')}</label>
            <input id={searchId} type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="gpt, deepseek/…" />
          </div>
        </div>
        <ErrorNotice error={models.error} onRetry={models.reload} />
        <Loading show={models.loading && !models.data} />
        {models.data && (
          <>
            {all.length > 0 && (
              <p className="muted" aria-live="polite">
                {t('models.count', { n: f.int(shown.length), total: f.int(all.length) })}
              </p>
            )}
            {all.length === 0 ? (
              <div className="notice empty-state" data-testid="no-providers">
                <p>
                  <strong>{t('models.noProviders')}</strong>
                </p>
                <p>{t('models.noProvidersHow')}</p>
              </div>
            ) : shown.length === 0 ? (
              <p>{t('models.noMatch', { q })}</p>
            ) : (
              <div className="table-wrap">
                <table data-testid="models-table">
                  <thead>
                    <tr>
                      <th scope="col">{t('models.id')}</th>
                      <th scope="col">{t('models.owner')}</th>
                      <th scope="col" className="num">
                        {t('models.context')}
                      </th>
                      <th scope="col" className="num">
                        {t('models.maxOutput')}
                      </th>
                      <th scope="col">{t('models.modalities')}</th>
                      <th scope="col">{t('models.tools')}</th>
                      <th scope="col" className="num">
                        {t('models.inputPrice')}
                      </th>
                      <th scope="col" className="num">
                        {t('models.outputPrice')}
                      </th>
                      <th scope="col" className="num">
                        {t('models.cachedPrice')}
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {shown.map((m) => (
                      <tr key={m.id}>
                        <th scope="row" className="mono">
                          {m.id}
                        </th>
                        <td>{m.owned_by}</td>
                        <td className="num">{f.compact(m.context_window)}</td>
                        <td className="num">{f.compact(m.max_output_tokens)}</td>
                        <td>{modalitiesText(m.modalities)}</td>
                        <td>{m.supports_tools === undefined ? '—' : m.supports_tools ? t('common.yes') : t('common.no')}</td>
                        <td className="num">{f.usd(m.pricing?.input_per_million)}</td>
                        <td className="num">{f.usd(m.pricing?.output_per_million)}</td>
                        <td className="num">{f.usd(m.pricing?.cached_input_per_million)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </>
        )}
      </section>
      {isAdmin && <Deployments />}
    </>
  );
}

function Deployments() {
  const { t } = useI18n();
  const f = useFormat();
  const deps = useLoad(async (signal) => ({ at: new Date(), list: (await api<List<DeploymentHealth>>('/admin/deployments', { signal })).data }), [], 3_000);
  const list = deps.data?.list ?? [];
  const tone = (c: DeploymentHealth['circuit']) => (c === 'closed' ? 'good' : c === 'open' ? 'bad' : 'warn');
  const capped = (now: number, cap: number | null) => (cap ? `${f.int(now)} / ${f.int(cap)}` : f.int(now));

  return (
    <section className="card" aria-labelledby="deployments-title">
      <div className="card-head">
        <h2 id="deployments-title">{t('models.deployments')}</h2>
        {deps.data && <span className="muted small">{t('common.updated', { time: f.time(deps.data.at) })}</span>}
      </div>
      <p className="muted">{t('models.deploymentsIntro')}</p>
      <ErrorNotice error={deps.error} onRetry={deps.reload} />
      <Loading show={deps.loading && !deps.data} />
      {deps.data && list.length === 0 && <p>{t('models.noDeployments')}</p>}
      {list.length > 0 && (
        <div className="table-wrap">
          <table data-testid="deployments-table">
            <thead>
              <tr>
                <th scope="col">{t('models.route')}</th>
                <th scope="col">{t('models.deployment')}</th>
                <th scope="col">{t('models.upstream')}</th>
                <th scope="col">{t('models.circuit')}</th>
                <th scope="col" className="num">
                  {t('models.errorRate')}
                </th>
                <th scope="col" className="num">
                  {t('models.inFlight')}
                </th>
                <th scope="col" className="num">
                  {t('models.ttft')}
                </th>
                <th scope="col" className="num">
                  {t('models.rpmNow')}
                </th>
                <th scope="col" className="num">
                  {t('models.tpmNow')}
                </th>
                <th scope="col" className="num">
                  {t('models.okFail')}
                </th>
                <th scope="col" className="num">
                  {t('models.weightPriority')}
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={`${d.route}|${d.id}`}>
                  <th scope="row" className="mono">
                    {d.route}
                  </th>
                  <td className="mono">{d.id}</td>
                  <td className="mono">
                    {d.provider}/{d.model}
                  </td>
                  <td>
                    <Badge tone={tone(d.circuit)}>{t(`models.circuit.${d.circuit}`)}</Badge>
                  </td>
                  <td className="num">{f.percent(d.errorRate)}</td>
                  <td className="num">{f.int(d.inFlight)}</td>
                  <td className="num">{f.ms(d.ttftMs)}</td>
                  <td className="num">{capped(d.requestsLastMinute, d.rpm)}</td>
                  <td className="num">{capped(d.tokensLastMinute, d.tpm)}</td>
                  <td className="num">
                    {f.int(d.successes)} / {f.int(d.failures)}
                  </td>
                  <td className="num">
                    {f.num(d.weight)} / {f.int(d.priority)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
