/** Virtual keys and teams: create (the secret shown once), edit limits, revoke / delete. */
import { useId, useRef, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { api } from '../api';
import type { BudgetPeriod, KeyInfo, List, Team } from '../api';
import { ConfirmDialog, Dialog } from '../components/Dialog';
import { Badge, ErrorNotice, Loading, PageHeader, Progress } from '../components/ui';
import { useFormat } from '../format';
import type { Formatters } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import type { Translate } from '../i18n';

type Editing = { kind: 'key'; key?: KeyInfo } | { kind: 'team'; team?: Team };

export default function Keys() {
  const { t } = useI18n();
  const data = useLoad(async (signal) => {
    const [keys, teams] = await Promise.all([api<List<KeyInfo>>('/admin/keys', { signal }), api<List<Team>>('/admin/teams', { signal })]);
    return { keys: keys.data, teams: teams.data };
  }, []);
  const [editing, setEditing] = useState<Editing>();
  const [secret, setSecret] = useState<{ name: string; key: string }>();
  const [revoking, setRevoking] = useState<KeyInfo>();
  const [deleting, setDeleting] = useState<Team>();
  const keys = data.data?.keys ?? [];
  const teams = data.data?.teams ?? [];

  return (
    <>
      <PageHeader title={t('keys.title')}>
        <button type="button" className="btn btn-primary" onClick={() => setEditing({ kind: 'key' })}>
          {t('keys.create')}
        </button>
        <button type="button" className="btn" onClick={() => setEditing({ kind: 'team' })}>
          {t('keys.createTeam')}
        </button>
      </PageHeader>
      <ErrorNotice error={data.error} onRetry={data.reload} />
      <Loading show={data.loading && !data.data} />
      {data.data && (
        <>
          <section className="card" aria-labelledby="keys-title">
            <h2 id="keys-title">{t('keys.keys')}</h2>
            <KeysTable keys={keys} teams={teams} onEdit={(key) => setEditing({ kind: 'key', key })} onRevoke={setRevoking} />
          </section>
          <section className="card" aria-labelledby="teams-title">
            <h2 id="teams-title">{t('keys.teams')}</h2>
            <TeamsTable teams={teams} onEdit={(team) => setEditing({ kind: 'team', team })} onDelete={setDeleting} />
          </section>
        </>
      )}
      {editing?.kind === 'key' && (
        <LimitsDialog
          kind="key"
          initial={editing.key}
          teams={teams}
          onClose={() => setEditing(undefined)}
          onSaved={(saved) => {
            setEditing(undefined);
            if (typeof saved.key === 'string') setSecret({ name: String(saved.name ?? ''), key: saved.key });
            data.reload();
          }}
        />
      )}
      {editing?.kind === 'team' && (
        <LimitsDialog
          kind="team"
          initial={editing.team}
          teams={teams}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            data.reload();
          }}
        />
      )}
      {secret && <SecretDialog name={secret.name} secret={secret.key} onClose={() => setSecret(undefined)} />}
      {revoking && (
        <Confirm
          title={t('keys.revoke.title', { name: revoking.name })}
          body={t('keys.revoke.body')}
          confirm={t('keys.revoke.confirm')}
          run={() => api(`/admin/keys/${encodeURIComponent(revoking.id)}/revoke`, { method: 'POST' })}
          onClose={(done) => {
            setRevoking(undefined);
            if (done) data.reload();
          }}
        />
      )}
      {deleting && (
        <Confirm
          title={t('keys.deleteTeam.title', { name: deleting.name })}
          body={t('keys.deleteTeam.body')}
          confirm={t('keys.deleteTeam.confirm')}
          run={() => api(`/admin/teams/${encodeURIComponent(deleting.id)}`, { method: 'DELETE' })}
          onClose={(done) => {
            setDeleting(undefined);
            if (done) data.reload();
          }}
        />
      )}
    </>
  );
}

function Confirm(props: { title: string; body: string; confirm: string; run: () => Promise<unknown>; onClose: (done: boolean) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  return (
    <ConfirmDialog
      title={props.title}
      body={props.body}
      confirm={props.confirm}
      busy={busy}
      error={error}
      onClose={() => props.onClose(false)}
      onConfirm={() => {
        setBusy(true);
        setError(undefined);
        props.run().then(
          () => props.onClose(true),
          (e: Error) => {
            setBusy(false);
            setError(e);
          },
        );
      }}
    />
  );
}

function keyStatus(k: KeyInfo): 'active' | 'revoked' | 'expired' {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && Date.parse(k.expires_at) <= Date.now()) return 'expired';
  return 'active';
}

function Budget({ spend, budget, period, t, f }: { spend: number | null; budget: number | null; period: BudgetPeriod; t: Translate; f: Formatters }) {
  if (budget === null || budget === undefined) {
    return <span className="muted">{spend ? t('keys.spendNoBudget', { spend: f.usd(spend) }) : t('common.unlimited')}</span>;
  }
  return <Progress value={spend ?? 0} max={budget} label={t('keys.spendOf', { spend: f.usd(spend ?? 0), budget: f.usd(budget), period: t(`keys.period.${period}`) })} />;
}

function modelsText(list: string[], t: Translate): ReactNode {
  return list.length ? <span className="mono">{list.join(', ')}</span> : <span className="muted">{t('keys.anyModel')}</span>;
}

function limitText(v: number | null, f: Formatters, t: Translate): string {
  return v === null || v === undefined ? t('common.unlimited') : f.int(v);
}

function KeysTable({ keys, teams, onEdit, onRevoke }: { keys: KeyInfo[]; teams: Team[]; onEdit: (k: KeyInfo) => void; onRevoke: (k: KeyInfo) => void }) {
  const { t } = useI18n();
  const f = useFormat();
  if (!keys.length) return <p className="muted">{t('keys.none')}</p>;
  const teamName = new Map(teams.map((x) => [x.id, x.name]));
  const sorted = [...keys].sort((a, b) => Number(Boolean(a.revoked_at)) - Number(Boolean(b.revoked_at)) || (b.created_at ?? '').localeCompare(a.created_at ?? ''));
  return (
    <div className="table-wrap">
      <table data-testid="keys-table">
        <thead>
          <tr>
            <th scope="col">{t('keys.name')}</th>
            <th scope="col">{t('keys.prefix')}</th>
            <th scope="col">{t('keys.team')}</th>
            <th scope="col">{t('keys.allowedModels')}</th>
            <th scope="col" className="num">
              {t('keys.rpm')}
            </th>
            <th scope="col" className="num">
              {t('keys.tpm')}
            </th>
            <th scope="col">{t('keys.spend')}</th>
            <th scope="col">{t('keys.expires')}</th>
            <th scope="col">{t('keys.status')}</th>
            <th scope="col">{t('keys.actions')}</th>
          </tr>
        </thead>
        <tbody>
          {sorted.map((k) => {
            const status = keyStatus(k);
            return (
              <tr key={k.id} data-key-id={k.id} data-status={status}>
                <th scope="row">{k.name}</th>
                <td className="mono">{k.prefix}</td>
                <td>{k.team_id ? (teamName.get(k.team_id) ?? k.team_id) : <span className="muted">{t('keys.noTeam')}</span>}</td>
                <td>{modelsText(k.allowed_models, t)}</td>
                <td className="num" data-field="rpm">
                  {limitText(k.rpm, f, t)}
                </td>
                <td className="num" data-field="tpm">
                  {limitText(k.tpm, f, t)}
                </td>
                <td className="budget-cell">
                  <Budget spend={k.spend_usd} budget={k.budget_usd} period={k.budget_period} t={t} f={f} />
                </td>
                <td>{k.expires_at ? f.dateTime(k.expires_at) : t('common.never')}</td>
                <td>
                  <Badge tone={status === 'active' ? 'good' : status === 'revoked' ? 'bad' : 'warn'}>{t(`keys.status.${status}`)}</Badge>
                </td>
                <td className="actions">
                  {status !== 'revoked' && (
                    <>
                      <button type="button" className="btn btn-small" onClick={() => onEdit(k)} aria-label={t('keys.editKey', { name: k.name })}>
                        {t('common.edit')}
                      </button>
                      <button type="button" className="btn btn-small btn-danger" onClick={() => onRevoke(k)} aria-label={`${t('keys.revoke')} ${k.name}`}>
                        {t('keys.revoke')}
                      </button>
                    </>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function TeamsTable({ teams, onEdit, onDelete }: { teams: Team[]; onEdit: (x: Team) => void; onDelete: (x: Team) => void }) {
  const { t } = useI18n();
  const f = useFormat();
  if (!teams.length) return <p className="muted">{t('keys.noTeams')}</p>;
  return (
    <div className="table-wrap">
      <table data-testid="teams-table">
        <thead>
          <tr>
            <th scope="col">{t('keys.name')}</th>
            <th scope="col">{t('keys.allowedModels')}</th>
            <th scope="col" className="num">
              {t('keys.rpm')}
            </th>
            <th scope="col" className="num">
              {t('keys.tpm')}
            </th>
            <th scope="col">{t('keys.spend')}</th>
            <th scope="col">{t('keys.actions')}</th>
          </tr>
        </thead>
        <tbody>
          {teams.map((x) => (
            <tr key={x.id} data-team-id={x.id}>
              <th scope="row">{x.name}</th>
              <td>{modelsText(x.allowed_models, t)}</td>
              <td className="num">{limitText(x.rpm, f, t)}</td>
              <td className="num">{limitText(x.tpm, f, t)}</td>
              <td className="budget-cell">
                <Budget spend={x.spend_usd} budget={x.budget_usd} period={x.budget_period} t={t} f={f} />
              </td>
              <td className="actions">
                <button type="button" className="btn btn-small" onClick={() => onEdit(x)} aria-label={t('keys.editTeam', { name: x.name })}>
                  {t('common.edit')}
                </button>
                <button type="button" className="btn btn-small btn-danger" onClick={() => onDelete(x)} aria-label={`${t('common.delete')} ${x.name}`}>
                  {t('common.delete')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** `YYYY-MM-DDTHH:mm` in local time, what <input type="datetime-local"> wants. */
function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function Field({ label, hint, children, id }: { label: string; hint?: string; id: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && (
        <small className="hint" id={`${id}-hint`}>
          {hint}
        </small>
      )}
    </div>
  );
}

function LimitsDialog(props: { kind: 'key' | 'team'; initial: KeyInfo | Team | undefined; teams: Team[]; onClose: () => void; onSaved: (saved: Record<string, unknown>) => void }) {
  const { t } = useI18n();
  const base = useId();
  const init = props.initial;
  const initKey = props.kind === 'key' ? (init as KeyInfo | undefined) : undefined;
  const [name, setName] = useState(init?.name ?? '');
  const [teamId, setTeamId] = useState(initKey?.team_id ?? '');
  const [models, setModels] = useState((init?.allowed_models ?? []).join(', '));
  const [rpm, setRpm] = useState(init?.rpm?.toString() ?? '');
  const [tpm, setTpm] = useState(init?.tpm?.toString() ?? '');
  const [budget, setBudget] = useState(init?.budget_usd?.toString() ?? '');
  const [period, setPeriod] = useState<BudgetPeriod>(init?.budget_period ?? 'month');
  const [expires, setExpires] = useState(toLocalInput(initKey?.expires_at));
  const [metadata, setMetadata] = useState(init?.metadata && Object.keys(init.metadata).length ? JSON.stringify(init.metadata, null, 2) : '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const formRef = useRef<HTMLFormElement>(null);

  const title = props.kind === 'key' ? (init ? t('keys.editKey', { name: init.name }) : t('keys.newKey')) : init ? t('keys.editTeam', { name: init.name }) : t('keys.newTeam');

  function int(v: string, field: string): number | null {
    const s = v.trim();
    if (!s) return null;
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) throw new Error(t('keys.invalidNumber', { field }));
    return n;
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    let body: Record<string, unknown>;
    try {
      if (!name.trim()) throw new Error(t('keys.nameRequired'));
      const b = budget.trim() ? Number(budget.trim()) : null;
      if (b !== null && (!Number.isFinite(b) || b < 0)) throw new Error(t('keys.invalidBudget'));
      body = {
        name: name.trim(),
        allowed_models: models
          .split(/[,\n]/)
          .map((s) => s.trim())
          .filter(Boolean),
        rpm: int(rpm, t('keys.rpm')),
        tpm: int(tpm, t('keys.tpm')),
        budget_usd: b,
        budget_period: period,
      };
      if (metadata.trim()) {
        let m: unknown;
        try {
          m = JSON.parse(metadata);
        } catch {
          m = undefined;
        }
        if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error(t('keys.invalidMetadata'));
        body.metadata = m;
      } else if (init) body.metadata = {};
      if (props.kind === 'key') {
        body.team_id = teamId || null;
        body.expires_at = expires ? new Date(expires).toISOString() : null;
      }
      // A new record leaves unset fields out; an edit sends null to clear a limit.
      if (!init) for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
    } catch (err) {
      setError((err as Error).message);
      return;
    }
    setBusy(true);
    try {
      const path = props.kind === 'key' ? '/admin/keys' : '/admin/teams';
      const saved = init
        ? await api<Record<string, unknown>>(`${path}/${encodeURIComponent(init.id)}`, { method: 'PATCH', body })
        : await api<Record<string, unknown>>(path, { method: 'POST', body });
      props.onSaved(saved ?? {});
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  }

  return (
    <Dialog title={title} onClose={props.onClose}>
      <form ref={formRef} onSubmit={submit} noValidate className="form-grid">
        <Field label={t('keys.name')} id={`${base}-name`}>
          <input id={`${base}-name`} name="name" value={name} onChange={(e) => setName(e.target.value)} required autoFocus maxLength={200} />
        </Field>
        {props.kind === 'key' && (
          <Field label={t('keys.team')} id={`${base}-team`}>
            <select id={`${base}-team`} name="team_id" value={teamId} onChange={(e) => setTeamId(e.target.value)}>
              <option value="">{t('keys.noTeam')}</option>
              {props.teams.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name}
                </option>
              ))}
            </select>
          </Field>
        )}
        <Field label={t('keys.allowedModels')} hint={t('keys.allowedModelsHint')} id={`${base}-models`}>
          <input id={`${base}-models`} name="allowed_models" value={models} onChange={(e) => setModels(e.target.value)} aria-describedby={`${base}-models-hint`} spellCheck={false} />
        </Field>
        <Field label={t('keys.rpm')} hint={t('keys.limitHint')} id={`${base}-rpm`}>
          <input id={`${base}-rpm`} name="rpm" inputMode="numeric" value={rpm} onChange={(e) => setRpm(e.target.value)} aria-describedby={`${base}-rpm-hint`} />
        </Field>
        <Field label={t('keys.tpm')} hint={t('keys.limitHint')} id={`${base}-tpm`}>
          <input id={`${base}-tpm`} name="tpm" inputMode="numeric" value={tpm} onChange={(e) => setTpm(e.target.value)} aria-describedby={`${base}-tpm-hint`} />
        </Field>
        <Field label={t('keys.budget')} hint={t('keys.limitHint')} id={`${base}-budget`}>
          <input id={`${base}-budget`} name="budget_usd" inputMode="decimal" value={budget} onChange={(e) => setBudget(e.target.value)} aria-describedby={`${base}-budget-hint`} />
        </Field>
        <Field label={t('keys.budgetPeriod')} id={`${base}-period`}>
          <select id={`${base}-period`} name="budget_period" value={period} onChange={(e) => setPeriod(e.target.value as BudgetPeriod)}>
            <option value="day">{t('keys.periodOption.day')}</option>
            <option value="month">{t('keys.periodOption.month')}</option>
            <option value="total">{t('keys.periodOption.total')}</option>
          </select>
        </Field>
        {props.kind === 'key' && (
          <Field label={t('keys.expires')} hint={t('keys.expiresHint')} id={`${base}-expires`}>
            <input id={`${base}-expires`} name="expires_at" type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} aria-describedby={`${base}-expires-hint`} />
          </Field>
        )}
        <div className="span-all">
          <Field label={t('keys.metadata')} hint={t('keys.metadataHint')} id={`${base}-metadata`}>
            <textarea id={`${base}-metadata`} name="metadata" rows={2} className="mono" value={metadata} onChange={(e) => setMetadata(e.target.value)} aria-describedby={`${base}-metadata-hint`} spellCheck={false} />
          </Field>
        </div>
        {error && (
          <div className="notice notice-error span-all" role="alert">
            {error}
          </div>
        )}
        <div className="dialog-actions span-all">
          <button type="button" className="btn" onClick={props.onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? t('common.saving') : t('common.save')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

async function copyText(text: string, fallbackEl: HTMLInputElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!fallbackEl) return false;
    fallbackEl.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

function SecretDialog({ name, secret, onClose }: { name: string; secret: string; onClose: () => void }) {
  const { t } = useI18n();
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<boolean>();
  return (
    <Dialog title={t('keys.created.title')} onClose={onClose} className="dialog-secret">
      <p className="notice notice-warn" role="note">
        {t('keys.created.warning')}
      </p>
      <div className="field">
        <label htmlFor={id}>{t('keys.created.label', { name })}</label>
        <div className="copy-row">
          <input id={id} ref={input} readOnly value={secret} className="mono" data-testid="new-key-secret" onFocus={(e) => e.currentTarget.select()} spellCheck={false} />
          <button type="button" className="btn" onClick={() => copyText(secret, input.current).then(setCopied)}>
            {copied ? t('keys.copied') : t('keys.copy')}
          </button>
        </div>
        <div aria-live="polite" className="small">
          {copied === false && <span className="error-message">{t('keys.copyFailed')}</span>}
          {copied === true && <span className="visually-hidden">{t('keys.copied')}</span>}
        </div>
      </div>
      <div className="dialog-actions">
        <button type="button" className="btn btn-primary" onClick={onClose}>
          {t('keys.done')}
        </button>
      </div>
    </Dialog>
  );
}
