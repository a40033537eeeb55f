/**
 * A modal on the native <dialog>: focus moves into it and is trapped there, Escape closes it
 * (the `cancel` event), and focus returns to whatever opened it.
 */
import { useEffect, useId, useRef } from 'react';
import type { ReactNode } from 'react';
import { useI18n } from '../i18n';

export function Dialog({ title, onClose, children, className }: { title: string; onClose: () => void; children: ReactNode; className?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const { t } = useI18n();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    const opener = document.activeElement as HTMLElement | null;
    if (!d.open) d.showModal();
    const cancel = (e: Event) => {
      e.preventDefault();
      onCloseRef.current();
    };
    d.addEventListener('cancel', cancel);
    return () => {
      d.removeEventListener('cancel', cancel);
      if (d.open) d.close();
      if (opener && document.contains(opener)) opener.focus();
    };
  }, []);

  return (
    <dialog ref={ref} className={`dialog ${className ?? ''}`} aria-labelledby={titleId}>
      <div className="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="btn btn-icon" onClick={() => onCloseRef.current()} aria-label={t('common.close')}>
          ×
        </button>
      </div>
      <div className="dialog-body">{children}</div>
    </dialog>
  );
}

/** "Are you sure?" with a destructive confirm button. */
export function ConfirmDialog(props: { title: string; body: string; confirm: string; busy?: boolean; error?: Error | undefined; onConfirm: () => void; onClose: () => void }) {
  const { t } = useI18n();
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <p>{props.body}</p>
      {props.error && (
        <div className="notice notice-error" role="alert">
          {props.error.message}
        </div>
      )}
      <div className="dialog-actions">
        <button type="button" className="btn" onClick={props.onClose} autoFocus>
          {t('common.cancel')}
        </button>
        <button type="button" className="btn btn-danger" onClick={props.onConfirm} disabled={props.busy}>
          {props.confirm}
        </button>
      </div>
    </Dialog>
  );
}
