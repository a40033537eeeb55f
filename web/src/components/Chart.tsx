/**
 * A hand-written SVG time-series chart (lines or bars), drawn at the container's real width so
 * text stays readable on a phone. Each bucket has a <title> for hover, and the same numbers are
 * available as a table for keyboard and screen-reader users.
 */
import { useEffect, useRef, useState } from 'react';
import { useI18n } from '../i18n';

export interface Series {
  name: string;
  values: (number | null)[];
  /** CSS color variable suffix: 1…4. */
  tone: 1 | 2 | 3 | 4;
}

interface Props {
  title: string;
  labels: string[];
  series: Series[];
  format: (n: number) => string;
  kind?: 'line' | 'bar';
  height?: number;
  /** Fixed top of the y axis (e.g. 1 for a ratio). */
  yMax?: number;
  /** Counts: the axis ticks stay whole numbers. */
  integer?: boolean;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

function useWidth<T extends HTMLElement>(): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
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
  }, []);
  return [ref, width];
}

export function Chart({ title, labels, series, format, kind = 'line', height = 180, yMax, integer }: Props) {
  const { t } = useI18n();
  const [ref, width] = useWidth<HTMLDivElement>();
  const n = labels.length;
  const padR = 10;
  const padT = 10;
  const padB = 26;
  const plotH = height - padT - padB;
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)))));
  const max = yMax ?? (integer ? Math.max(2, Math.ceil(top / 2) * 2) : top);
  const ticks = [0, max / 2, max];
  // The y axis is as wide as its longest label (about 7 px a character at the axis font size),
  // so no label is clipped at the left edge ("US$0.03" once showed as "S$0.03").
  const tickText = ticks.map((tv) => format(tv));
  const padL = Math.min(140, Math.max(36, Math.ceil(Math.max(...tickText.map((s) => s.length)) * 7) + 12));
  const plotW = Math.max(10, width - padL - padR);
  const step = n > 0 ? plotW / n : plotW;
  const x = (i: number) => padL + step * (i + 0.5);
  const y = (v: number) => padT + plotH - (Math.min(v, max) / max) * plotH;
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(plotW / 70))));
  const barGroupW = step * 0.75;
  const barW = series.length ? barGroupW / series.length : barGroupW;

  return (
    <figure className="chart">
      <figcaption className="chart-title">{title}</figcaption>
      <div className="chart-canvas" ref={ref}>
        <svg width={width} height={height} role="img" aria-label={title} className="chart-svg">
          {ticks.map((tv, i) => (
            <g key={i}>
              <line x1={padL} x2={padL + plotW} y1={y(tv)} y2={y(tv)} className="chart-grid" />
              <text x={padL - 6} y={y(tv)} dy="0.32em" textAnchor="end" className="chart-axis">
                {tickText[i]}
              </text>
            </g>
          ))}
          {labels.map((l, i) =>
            i % labelEvery === 0 ? (
              <text key={i} x={x(i)} y={height - 8} textAnchor="middle" className="chart-axis">
                {l}
              </text>
            ) : null,
          )}
          {kind === 'bar'
            ? series.map((s, si) =>
                s.values.map((v, i) =>
                  v ? (
                    <rect
                      key={`${si}-${i}`}
                      x={x(i) - barGroupW / 2 + si * barW}
                      y={y(v)}
                      width={Math.max(1, barW - 1)}
                      height={Math.max(0, padT + plotH - y(v))}
                      className={`chart-fill-${s.tone}`}
                    />
                  ) : null,
                ),
              )
            : series.map((s, si) => {
                let d = '';
                let pen = false;
                s.values.forEach((v, i) => {
                  if (v === null || !Number.isFinite(v)) {
                    pen = false;
                    return;
                  }
                  d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
                  pen = true;
                });
                return (
                  <g key={si}>
                    <path d={d} className={`chart-line chart-stroke-${s.tone}`} />
                    {s.values.map((v, i) =>
                      v !== null && Number.isFinite(v) && (n <= 48 || v > 0) ? <circle key={i} cx={x(i)} cy={y(v)} r={n > 48 ? 1.5 : 2.5} className={`chart-fill-${s.tone}`} /> : null,
                    )}
                  </g>
                );
              })}
          {labels.map((l, i) => (
            <rect key={`hit-${i}`} x={padL + step * i} y={padT} width={step} height={plotH} className="chart-hit">
              <title>{`${l}\n${series.map((s) => `${s.name}: ${s.values[i] === null || s.values[i] === undefined ? '—' : format(s.values[i]!)}`).join('\n')}`}</title>
            </rect>
          ))}
        </svg>
      </div>
      {series.length > 1 && (
        <ul className="chart-legend">
          {series.map((s) => (
            <li key={s.name}>
              <span className={`swatch chart-fill-${s.tone}`} aria-hidden="true" />
              {s.name}
            </li>
          ))}
        </ul>
      )}
      <details className="chart-data">
        <summary>{t('common.showTable')}</summary>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t('overview.time')}</th>
                {series.map((s) => (
                  <th scope="col" key={s.name} className="num">
                    {s.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {labels.map((l, i) => (
                <tr key={i}>
                  <th scope="row">{l}</th>
                  {series.map((s) => (
                    <td key={s.name} className="num">
                      {s.values[i] === null || s.values[i] === undefined ? '—' : format(s.values[i]!)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
