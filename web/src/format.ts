/**
 * Numbers, money, durations and dates for the current locale, all through Intl. Money is US
 * dollars shown with the narrow symbol ("$1.00" in every language; zh-CN would otherwise write
 * "US$1.00", which a chart axis clipped to "S$").
 */
import { useMemo } from 'react';
import { useI18n } from './i18n';

export interface Formatters {
  int(n: number | null | undefined): string;
  num(n: number | null | undefined, digits?: number): string;
  compact(n: number | null | undefined): string;
  usd(n: number | null | undefined): string;
  percent(ratio: number | null | undefined): string;
  ms(n: number | null | undefined): string;
  dateTime(iso: string | number | Date | null | undefined): string;
  /** A compact date and time for table rows. */
  shortDateTime(iso: string | number | Date | null | undefined): string;
  time(iso: string | number | Date): string;
  /** An axis label for an hourly or daily bucket. */
  bucket(d: Date, daily: boolean): string;
}

const DASH = '—';

export function makeFormatters(locale: string): Formatters {
  const int = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  const compact = new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 });
  const usdBig = new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD', currencyDisplay: 'narrowSymbol', minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const usdSmall = new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD', currencyDisplay: 'narrowSymbol', minimumFractionDigits: 2, maximumSignificantDigits: 3 });
  const pct = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
  const msFmt = new Intl.NumberFormat(locale, { style: 'unit', unit: 'millisecond', unitDisplay: 'short', maximumFractionDigits: 0 });
  const sFmt = new Intl.NumberFormat(locale, { style: 'unit', unit: 'second', unitDisplay: 'short', maximumFractionDigits: 2 });
  const dt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' });
  const shortDt = new Intl.DateTimeFormat(locale, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const tm = new Intl.DateTimeFormat(locale, { timeStyle: 'medium' });
  const hourFmt = new Intl.DateTimeFormat(locale, { month: 'numeric', day: 'numeric', hour: 'numeric' });
  const dayFmt = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  const ok = (n: number | null | undefined): n is number => typeof n === 'number' && Number.isFinite(n);
  return {
    int: (n) => (ok(n) ? int.format(n) : DASH),
    num: (n, digits = 2) => (ok(n) ? new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(n) : DASH),
    compact: (n) => (ok(n) ? compact.format(n) : DASH),
    usd: (n) => {
      if (!ok(n)) return DASH;
      if (n === 0 || Math.abs(n) >= 0.01) return usdBig.format(n);
      // Small costs keep three significant digits: $0.0000300, not $0.00.
      try {
        return new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD', currencyDisplay: 'narrowSymbol', maximumSignificantDigits: 3 }).format(n);
      } catch {
        return usdSmall.format(n);
      }
    },
    percent: (r) => (ok(r) ? pct.format(r) : DASH),
    ms: (n) => (ok(n) ? (n >= 10_000 ? sFmt.format(n / 1000) : msFmt.format(n)) : DASH),
    dateTime: (v) => {
      if (v === null || v === undefined || v === '') return DASH;
      const d = v instanceof Date ? v : new Date(v);
      return Number.isNaN(d.getTime()) ? String(v) : dt.format(d);
    },
    shortDateTime: (v) => {
      if (v === null || v === undefined || v === '') return DASH;
      const d = v instanceof Date ? v : new Date(v);
      return Number.isNaN(d.getTime()) ? String(v) : shortDt.format(d);
    },
    time: (v) => tm.format(v instanceof Date ? v : new Date(v)),
    bucket: (d, daily) => (daily ? dayFmt.format(d) : hourFmt.format(d)),
  };
}

export function useFormat(): Formatters {
  const { locale } = useI18n();
  return useMemo(() => makeFormatters(locale), [locale]);
}
