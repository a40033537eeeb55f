/**
 * Quality versus cost, one point per model of a run, as a hand-drawn SVG scatter (the same way
 * components/Chart.tsx draws, at the container's real width): x is what the model's answers
 * cost (the run's total or the mean per case), y its pass rate or mean score, each named on its
 * axis. The Pareto front (pareto.ts) is marked and joined; the numbers are in a table too.
 */
import { useEffect, useId, useRef, useState } from 'react';
import { modelPoints, truncate } from '../evals';
import type { CostAxis, ModelStats, QualityAxis } from '../evals';
import { useFormat } from '../format';
import { useI18n } from '../i18n';
import { paretoFront } from '../pareto';

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

/** The width of the element `ref` is put on; `shown` says when that element comes and goes. */
function useWidth(shown: boolean): [React.RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(600);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth || 600);
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w) setWidth(Math.round(w));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [shown]);
  return [ref, width];
}

export function QualityCostChart({ models }: { models: readonly ModelStats[] }) {
  const { t } = useI18n();
  const f = useFormat();
  const xId = useId();
  const yId = useId();
  const [xAxis, setXAxis] = useState<CostAxis>('total');
  const [yAxis, setYAxis] = useState<QualityAxis>('passRate');
  const points = modelPoints(models, xAxis, yAxis);
  const [ref, width] = useWidth(points.length > 0);
  const front = paretoFront(points);
  const onFront = new Set(front.map((p) => p.id));

  const height = 320;
  const padT = 16;
  const padR = 16;
  const padB = 48;
  const padL = 64;
  const plotW = Math.max(10, width - padL - padR);
  const plotH = height - padT - padB;
  const xMax = niceMax(Math.max(0, ...points.map((p) => p.x)));
  const X = (v: number) => padL + (v / xMax) * plotW;
  const Y = (v: number) => padT + plotH - Math.min(1, Math.max(0, v)) * plotH;
  const xTicks = [0, xMax / 2, xMax];
  const yTicks = [0, 0.25, 0.5, 0.75, 1];
  const yFmt = (v: number) => (yAxis === 'passRate' ? f.percent(v) : f.num(v, 2));
  const xLabel = t(`eval.x.${xAxis}`);
  const yLabel = t(`eval.y.${yAxis}`);
  const title = t('eval.chart');

  return (
    <section className="card" aria-labelledby="chart-title">
      <div className="card-head">
        <h2 id="chart-title">{title}</h2>
      </div>
      <p className="muted small">{t('eval.chartHint')}</p>
      <div className="eval-axes">
        <div className="field">
          <label htmlFor={xId}>{t('eval.xAxis')}</label>
          <select id={xId} value={xAxis} onChange={(e) => setXAxis(e.target.value as CostAxis)}>
            <option value="total">{t('eval.x.total')}</option>
            <option value="perCase">{t('eval.x.perCase')}</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={yId}>{t('eval.yAxis')}</label>
          <select id={yId} value={yAxis} onChange={(e) => setYAxis(e.target.value as QualityAxis)}>
            <option value="passRate">{t('eval.y.passRate')}</option>
            <option value="meanScore">{t('eval.y.meanScore')}</option>
          </select>
        </div>
      </div>
      {points.length === 0 ? (
        <p className="muted" data-testid="no-points">
          {t('eval.noPoints')}
        </p>
      ) : (
        <figure className="chart eval-chart">
          <div className="chart-canvas" ref={ref}>
            <svg width={width} height={height} role="img" aria-label={`${title}: ${yLabel} / ${xLabel}`} className="chart-svg" data-testid="pareto-chart">
              {yTicks.map((v) => (
                <g key={`y${v}`}>
                  <line x1={padL} x2={padL + plotW} y1={Y(v)} y2={Y(v)} className="chart-grid" />
                  <text x={padL - 6} y={Y(v)} dy="0.32em" textAnchor="end" className="chart-axis">
                    {yFmt(v)}
                  </text>
                </g>
              ))}
              {xTicks.map((v, i) => (
                <text key={`x${i}`} x={X(v)} y={padT + plotH + 16} textAnchor={i === 0 ? 'start' : i === xTicks.length - 1 ? 'end' : 'middle'} className="chart-axis">
                  {f.usd(v)}
                </text>
              ))}
              <text x={padL + plotW / 2} y={height - 6} textAnchor="middle" className="chart-axis eval-axis-label" data-testid="x-label">
                {xLabel}
              </text>
              <text transform={`translate(14 ${padT + plotH / 2}) rotate(-90)`} textAnchor="middle" className="chart-axis eval-axis-label" data-testid="y-label">
                {yLabel}
              </text>
              {front.length > 1 && <polyline points={front.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ')} className="eval-front-line" data-testid="pareto-line" />}
              {points.map((p) => {
                const on = onFront.has(p.id);
                const right = X(p.x) > padL + plotW * 0.7;
                // Below the point, where the front's line (rising to the right) does not pass; above near the floor.
                const below = p.y > 0.08;
                return (
                  <g key={p.id} data-testid="pareto-point" data-model={p.id} data-front={on}>
                    <circle cx={X(p.x)} cy={Y(p.y)} r={on ? 7 : 5} className={on ? 'eval-pt eval-pt-front' : 'eval-pt'} />
                    <text x={X(p.x) + (right ? -10 : 10)} y={Y(p.y)} dy={below ? '1.3em' : '-0.6em'} textAnchor={right ? 'end' : 'start'} className="eval-pt-label">
                      {truncate(p.label, 32)}
                    </text>
                    <title>{`${p.label}\n${xLabel}: ${f.usd(p.x)}\n${yLabel}: ${yFmt(p.y)}${on ? `\n${t('eval.front')}` : ''}`}</title>
                  </g>
                );
              })}
            </svg>
          </div>
          <ul className="chart-legend">
            <li>
              <span className="eval-swatch eval-swatch-front" aria-hidden="true" />
              {t('eval.front')}
            </li>
            <li>
              <span className="eval-swatch" aria-hidden="true" />
              {t('eval.beaten')}
            </li>
          </ul>
          <details className="chart-data">
            <summary>{t('common.showTable')}</summary>
            <div className="table-wrap">
              <table data-testid="pareto-table">
                <thead>
                  <tr>
                    <th scope="col">{t('eval.model')}</th>
                    <th scope="col" className="num">
                      {xLabel}
                    </th>
                    <th scope="col" className="num">
                      {yLabel}
                    </th>
                    <th scope="col" className="num">
                      {t('eval.casesDone')}
                    </th>
                    <th scope="col">{t('eval.front')}</th>
                  </tr>
                </thead>
                <tbody>
                  {points.map((p) => (
                    <tr key={p.id}>
                      <th scope="row">{p.label}</th>
                      <td className="num">{f.usd(p.x)}</td>
                      <td className="num">{yFmt(p.y)}</td>
                      <td className="num">{f.int(p.cases)}</td>
                      <td>{t(onFront.has(p.id) ? 'common.yes' : 'common.no')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </figure>
      )}
    </section>
  );
}
