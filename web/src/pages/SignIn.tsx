import { useId, useState } from 'react';
import type { FormEvent } from 'react';
import { useAuth } from '../auth';
import { useI18n } from '../i18n';

export function SignIn() {
  const { signIn } = useAuth();
  const { t } = useI18n();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const hintId = useId();
  const errorId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const k = key.trim();
    if (!k) return setError(t('signin.empty'));
    setBusy(true);
    setError(undefined);
    try {
      await signIn(k);
      if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/overview';
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="signin card" aria-labelledby="signin-title">
      <h1 id="signin-title">{t('signin.title')}</h1>
      <p>{t('signin.intro')}</p>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="signin-key">{t('signin.key')}</label>
          <input
            id="signin-key"
            name="key"
            type="password"
            autoComplete="current-password"
            spellCheck={false}
            autoFocus
            value={key}
            onChange={(e) => setKey(e.target.value)}
            aria-describedby={`${hintId}${error ? ` ${errorId}` : ''}`}
            aria-invalid={error ? true : undefined}
          />
          <small id={hintId} className="hint">
            {t('signin.keyHint')}
          </small>
        </div>
        {error && (
          <div id={errorId} className="notice notice-error" role="alert">
            {error}
          </div>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? t('signin.checking') : t('signin.submit')}
        </button>
      </form>
    </section>
  );
}
