/** Usage over time (requests, tokens, cost, latency, error rate) and the top models and keys. */
import { useState } from 'react';
import { api, qs } from '../api';
import type { KeyInfo, List, UsageRow } from '../api';
import { useAuth } from '../auth';
import { Chart } from '../components/Chart';
import { ErrorNotice, Loading, PageHeader, Stat } from '../components/ui';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n';

type Range = '24h' | '7d' | '30d';
const RANGES: { id: Range; label: MessageKey; buckets: number; daily: boolean }[] = [
  { id: '24h', label: 'overview.range.24h', buckets: 24, daily: false },
  { id: '7d', label: 'overview.range.7d', buckets: 7, daily: true },
  { id: '30d', label: 'overview.range.30d', buckets: 30, daily: true },
];
const HOUR = 3_600_000;
const DAY = 86_400_000;

interface Totals {
  requests: number;
  errors: number;
  input: number;
  output: number;
  cached: number;
  cost: number;
  latency: number | null;
  ttft: number | null;
}

function totals(rows: UsageRow[]): Totals {
  let requests = 0;
  let errors = 0;
  let input = 0;
  let output = 0;
  let cached = 0;
  let cost = 0;
  let latSum = 0;
  let latN = 0;
  let ttftSum = 0;
  let ttftN = 0;
  for (const r of rows) {
    requests += r.requests;
    errors += r.errors;
    input += r.input_tokens;
    output += r.output_tokens;
    cached += r.cached_input_tokens;
    cost += r.cost_usd;
    if (r.avg_latency_ms !== null && r.avg_latency_ms !== undefined) {
      latSum += r.avg_latency_ms * r.requests;
      latN += r.requests;
    }
    if (r.avg_ttft_ms !== null && r.avg_ttft_ms !== undefined) {
      ttftSum += r.avg_ttft_ms * r.requests;
      ttftN += r.requests;
    }
  }
  return { requests, errors, input, output, cached, cost, latency: latN ? latSum / latN : null, ttft: ttftN ? ttftSum / ttftN : null };
}

export default function Overview() {
  const { me, isAdmin } = useAuth();
  const { t } = useI18n();
  const f = useFormat();
  const [range, setRange] = useState<Range>('24h');
  const spec = RANGES.find((r) => r.id === range)!;
  const base = isAdmin ? '/admin/usage' : '/v1/me/usage';

  const load = useLoad(
    async (signal) => {
      const now = Date.now();
      const first = spec.daily ? Math.floor(now / DAY) * DAY - (spec.buckets - 1) * DAY : Math.floor(now / HOUR) * HOUR - (spec.buckets - 1) * HOUR;
      const from = new Date(first).toISOString();
      const get = (group_by: string) => api<List<UsageRow>>(`${base}${qs({ from, group_by })}`, { signal });
      const [series, models, keys, keyList] = await Promise.all([
        get(spec.daily ? 'day' : 'hour'),
        get('model'),
        isAdmin ? get('key') : Promise.resolve(undefined),
        isAdmin ? api<List<KeyInfo>>('/admin/keys', { signal }).catch(() => undefined) : Promise.resolve(undefined),
      ]);
      return { first, series: series.data, models: models.data, keys: keys?.data, keyNames: new Map((keyList?.data ?? []).map((k) => [k.id, k.name])) };
    },
    [range, isAdmin],
    30_000,
  );

  const d = load.data;
  const step = spec.daily ? DAY : HOUR;
  const buckets = d ? Array.from({ length: spec.buckets }, (_, i) => d.first + i * step) : [];
  const byBucket = new Map<number, UsageRow>();
  for (const r of d?.series ?? []) {
    const at = Date.parse((spec.daily ? r.day : r.hour) ?? '');
    if (!Number.isNaN(at)) byBucket.set(Math.floor(at / step) * step, r);
  }
  const rows = buckets.map((b) => byBucket.get(b));
  const labels = buckets.map((b) => f.bucket(new Date(b), spec.daily));
  const sum = totals(d?.series ?? []);
  const topModels = [...(d?.models ?? [])].sort((a, b) => b.requests - a.requests || b.cost_usd - a.cost_usd).slice(0, 10);
  const topKeys = [...(d?.keys ?? [])].sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests).slice(0, 10);
  const v = (fn: (r: UsageRow) => number | null) => rows.map((r) => (r ? fn(r) : 0));

  return (
    <>
      <PageHeader title={t('overview.title')}>
        <div className="segmented" role="group" aria-label={t('overview.range')}>
          {RANGES.map((r) => (
            <button key={r.id} type="button" className="btn btn-small" aria-pressed={range === r.id} onClick={() => setRange(r.id)}>
              {t(r.label)}
            </button>
          ))}
        </div>
      </PageHeader>
      {me?.kind === 'key' && <p className="lead">{t('overview.yourUsage', { name: me.key.name })}</p>}
      <ErrorNotice error={load.error} onRetry={load.reload} />
      <Loading show={load.loading && !d} />
      {d && (
        <>
          <section className="stats" aria-label={t('overview.title')} data-testid="overview-stats">
            <Stat label={t('overview.requests')} value={f.int(sum.requests)} sub={`${t('overview.errors')}: ${f.int(sum.errors)}`} />
            <Stat label={t('overview.tokens')} value={f.compact(sum.input + sum.output)} sub={`${t('overview.inputTokens')} ${f.int(sum.input)} · ${t('overview.outputTokens')} ${f.int(sum.output)}`} />
            <Stat label={t('overview.cost')} value={f.usd(sum.cost)} />
            <Stat label={t('overview.avgLatency')} value={f.ms(sum.latency)} sub={`${t('overview.avgTtft')}: ${f.ms(sum.ttft)}`} />
            <Stat label={t('overview.errorRate')} value={f.percent(sum.requests ? sum.errors / sum.requests : null)} />
          </section>
          <section className="charts">
            <Chart
              title={t('overview.requests')}
              kind="bar"
              integer
              labels={labels}
              format={(n) => f.compact(n)}
              series={[
                { name: t('overview.requests'), values: v((r) => r.requests), tone: 1 },
                { name: t('overview.errors'), values: v((r) => r.errors), tone: 4 },
              ]}
            />
            <Chart
              title={t('overview.tokens')}
              integer
              labels={labels}
              format={(n) => f.compact(n)}
              series={[
                { name: t('overview.inputTokens'), values: v((r) => r.input_tokens), tone: 1 },
                { name: t('overview.outputTokens'), values: v((r) => r.output_tokens), tone: 2 },
                { name: t('overview.cachedTokens'), values: v((r) => r.cached_input_tokens), tone: 3 },
              ]}
            />
            <Chart title={t('overview.cost')} kind="bar" labels={labels} format={(n) => f.usd(n)} series={[{ name: t('overview.cost'), values: v((r) => r.cost_usd), tone: 2 }]} />
            <Chart
              title={t('overview.latency')}
              labels={labels}
              format={(n) => f.ms(n)}
              series={[
                { name: t('overview.avgLatency'), values: rows.map((r) => r?.avg_latency_ms ?? null), tone: 1 },
                { name: t('overview.avgTtft'), values: rows.map((r) => r?.avg_ttft_ms ?? null), tone: 3 },
              ]}
            />
            <Chart
              title={t('overview.errorRate')}
              labels={labels}
              format={(n) => f.percent(n)}
              yMax={1}
              series={[{ name: t('overview.errorRate'), values: rows.map((r) => (r && r.requests ? r.errors / r.requests : null)), tone: 4 }]}
            />
          </section>
          <div className="grid-2">
            <section className="card" aria-labelledby="top-models">
              <h2 id="top-models">{t('overview.topModels')}</h2>
              <UsageTable rows={topModels} name={(r) => r.model || '—'} nameLabel={t('overview.model')} testId="top-models" />
            </section>
            {isAdmin && (
              <section className="card" aria-labelledby="top-keys">
                <h2 id="top-keys">{t('overview.topKeys')}</h2>
                <UsageTable rows={topKeys} name={(r) => (r.key ? (d.keyNames.get(r.key) ?? r.key) : t('overview.unknownKey'))} nameLabel={t('overview.key')} testId="top-keys" />
              </section>
            )}
          </div>
        </>
      )}
    </>
  );
}

function UsageTable({ rows, name, nameLabel, testId }: { rows: UsageRow[]; name: (r: UsageRow) => string; nameLabel: string; testId: string }) {
  const { t } = useI18n();
  const f = useFormat();
  if (!rows.length) return <p className="muted">{t('common.noData')}</p>;
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            <th scope="col">{nameLabel}</th>
            <th scope="col" className="num">
              {t('overview.requests')}
            </th>
            <th scope="col" className="num">
              {t('overview.tokens')}
            </th>
            <th scope="col" className="num">
              {t('overview.cost')}
            </th>
            <th scope="col" className="num">
              {t('overview.avgLatency')}
            </th>
            <th scope="col" className="num">
              {t('overview.errorRate')}
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              <th scope="row" className="mono">
                {name(r)}
              </th>
              <td className="num">{f.int(r.requests)}</td>
              <td className="num">{f.int(r.input_tokens + r.output_tokens)}</td>
              <td className="num">{f.usd(r.cost_usd)}</td>
              <td className="num">{f.ms(r.avg_latency_ms)}</td>
              <td className="num">{f.percent(r.requests ? r.errors / r.requests : null)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
