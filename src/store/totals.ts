/**
 * What one row of usage totals sums, over the hourly totals table: the same columns in every SQL
 * backend (usage/ports.ts UsageTotalsRow). `toFloat` is the dialect's cast that keeps the
 * averages from dividing integers ('' where the columns divide as reals already).
 */
export function totalsColumns(toFloat: string): string[] {
  return [
    'COALESCE(SUM(requests), 0) AS requests',
    'COALESCE(SUM(CASE WHEN status >= 400 THEN requests ELSE 0 END), 0) AS errors',
    'COALESCE(SUM(input_tokens), 0) AS input_tokens',
    'COALESCE(SUM(output_tokens), 0) AS output_tokens',
    'COALESCE(SUM(cached_input_tokens), 0) AS cached_input_tokens',
    'COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens',
    'COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens',
    'COALESCE(SUM(cost_usd), 0) AS cost_usd',
    `SUM(latency_ms_sum) / SUM(requests)${toFloat} AS avg_latency_ms`,
    `SUM(ttft_ms_sum) / NULLIF(SUM(ttft_count), 0)${toFloat} AS avg_ttft_ms`,
  ];
}
