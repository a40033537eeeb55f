/** Small shared pieces: error notices, loading, budget bars, stat cards, status badges. */
import { useEffect, useRef } from 'react';
import type { ReactNode } from 'react';
import { useI18n } from '../i18n';

export function ErrorNotice({ error, onRetry }: { error: Error | undefined; onRetry?: () => void }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <div className="notice notice-error" role="alert">
      <strong>{t('common.error')}:</strong> <span className="error-message">{error.message}</span>
      {onRetry && (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          {t('common.retry')}
        </button>
      )}
    </div>
  );
}

export function Loading({ show = true }: { show?: boolean }) {
  const { t } = useI18n();
  if (!show) return null;
  return (
    <p className="loading" role="status">
      {t('common.loading')}
    </p>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  // After following a navigation link, focus moves to the new page's heading, which tells
  // screen readers the page changed; on a fresh load focus stays at the top of the document.
  useEffect(() => {
    if (document.activeElement?.closest('nav')) ref.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <div className="page-header">
      <h1 tabIndex={-1} ref={ref}>
        {title}
      </h1>
      {children && <div className="page-actions">{children}</div>}
    </div>
  );
}

export function Stat({ label, value, sub }: { label: string; value: string; sub?: string | undefined }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {sub && <div className="stat-sub">{sub}</div>}
    </div>
  );
}

/** spend / budget as a bar; over 80 % turns amber, at 100 % red. */
export function Progress({ value, max, label }: { value: number; max: number; label: string }) {
  const ratio = max > 0 ? Math.min(1, value / max) : value > 0 ? 1 : 0;
  const level = ratio >= 1 ? 'full' : ratio >= 0.8 ? 'high' : 'ok';
  return (
    <div className="progress-wrap">
      <div className={`progress progress-${level}`} role="progressbar" aria-valuemin={0} aria-valuemax={max} aria-valuenow={Math.min(value, max)} aria-label={label}>
        <div className="progress-fill" style={{ width: `${(ratio * 100).toFixed(1)}%` }} />
      </div>
      <div className="progress-label">{label}</div>
    </div>
  );
}

export function StatusBadge({ status }: { status: number }) {
  const cls = status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'good';
  return <span className={`badge badge-${cls}`}>{status}</span>;
}

export function Badge({ tone, children }: { tone: 'good' | 'warn' | 'bad' | 'neutral'; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}
