/**
 * One matrix cell opened: for each repetition, the prompt the model was sent, its answer (or
 * error), and each assertion with its verdict, score and reason — for model-graded kinds the
 * rubric, what the grader was asked and what it answered — with cost and latency. All of it is
 * model or suite text, so all of it is shown as text.
 */
import { useState } from 'react';
import { Dialog } from '../components/Dialog';
import { Badge } from '../components/ui';
import { asText } from '../evals';
import type { ComponentResult, MatrixCell } from '../evals';
import { useFormat } from '../format';
import { useI18n } from '../i18n';
import { href } from '../route';

export function CellPanel({ cell, model, caseText, onClose }: { cell: MatrixCell; model: string; caseText: string; onClose: () => void }) {
  const { t } = useI18n();
  const f = useFormat();
  const [which, setWhich] = useState(0);
  const c = cell.cells[Math.min(which, cell.cells.length - 1)]!;
  const usage = c.response?.usage;

  return (
    <Dialog title={t('eval.cellTitle', { model, case: caseText })} onClose={onClose} className="eval-panel">
      <div data-testid="cell-panel">
        {cell.cells.length > 1 && (
          <div className="segmented eval-tries" role="group" aria-label={t('eval.tries')}>
            {cell.cells.map((x, i) => (
              <button key={x.key} type="button" className="btn btn-small" aria-pressed={i === which} onClick={() => setWhich(i)}>
                {t('eval.try', { n: i + 1 })} {x.success ? '✓' : '✗'}
              </button>
            ))}
          </div>
        )}
        <dl className="kb-summary eval-cell-facts">
          <div>
            <dt>{t('eval.verdict')}</dt>
            <dd data-field="verdict">
              <Badge tone={c.error ? 'warn' : c.success ? 'good' : 'bad'}>{c.error ? t('eval.error') : t(c.success ? 'eval.pass' : 'eval.fail')}</Badge>
            </dd>
          </div>
          <div>
            <dt>{t('eval.score')}</dt>
            <dd data-field="score">{f.num(c.score, 3)}</dd>
          </div>
          <div>
            <dt>{t('eval.cost')}</dt>
            <dd data-field="cost">
              {f.usd(c.cost)}
              {c.response?.cached && <span className="muted"> · {t('eval.cached')}</span>}
            </dd>
          </div>
          <div>
            <dt>{t('eval.latency')}</dt>
            <dd data-field="latency">{f.ms(c.latencyMs)}</dd>
          </div>
          {usage && (
            <div>
              <dt>{t('eval.tokens')}</dt>
              <dd>{t('eval.tokensInOut', { input: f.int(usage.inputTokens), output: f.int(usage.outputTokens) })}</dd>
            </div>
          )}
          {c.requestId && (
            <div>
              <dt>{t('eval.request')}</dt>
              <dd className="mono small">
                <a href={href('logs', c.requestId)}>{c.requestId}</a>
              </dd>
            </div>
          )}
        </dl>

        {Object.keys(c.vars).length > 0 && (
          <>
            <h3>{t('eval.vars')}</h3>
            <dl className="eval-vars">
              {Object.entries(c.vars).map(([k, v]) => (
                <div key={k}>
                  <dt className="mono">{k}</dt>
                  <dd className="eval-text">{asText(v)}</dd>
                </div>
              ))}
            </dl>
          </>
        )}
        <h3>{t('eval.prompt')}</h3>
        <pre className="code eval-text" data-field="prompt">
          {c.prompt.raw}
        </pre>
        <h3>{t('eval.answer')}</h3>
        {c.error ? (
          <div className="notice notice-error error-message" data-field="error">
            {c.error}
          </div>
        ) : (
          <pre className="code eval-text" data-field="answer">
            {c.response?.output || t('eval.noAnswer')}
          </pre>
        )}
        {c.response?.toolCalls && c.response.toolCalls.length > 0 && (
          <pre className="code eval-text" data-field="tool-calls">
            {JSON.stringify(c.response.toolCalls, null, 2)}
          </pre>
        )}
        <h3>{t('eval.assertions')}</h3>
        {/* The overall reason, unless it only repeats the error or the one assertion's reason. */}
        {c.gradingResult.reason && c.gradingResult.reason !== c.error && !(c.gradingResult.componentResults.length === 1 && c.gradingResult.componentResults[0]!.reason === c.gradingResult.reason) && (
          <p className="small eval-text" data-field="overall-reason">
            {c.gradingResult.reason}
          </p>
        )}
        {c.gradingResult.componentResults.length === 0 ? (
          <p className="muted">{t(c.error ? 'eval.notGraded' : 'eval.noAssertions')}</p>
        ) : (
          <ul className="eval-asserts" data-testid="assertions">
            {c.gradingResult.componentResults.map((a, i) => (
              <Assertion key={i} a={a} />
            ))}
          </ul>
        )}
      </div>
    </Dialog>
  );
}

function Assertion({ a }: { a: ComponentResult }) {
  const { t } = useI18n();
  const f = useFormat();
  const value = a.assertion.value;
  const graded = !!a.grader;
  return (
    <li className="eval-assert" data-type={a.assertion.type} data-pass={a.pass}>
      <div className="eval-assert-head">
        <span className="mono eval-assert-type">{a.assertion.type}</span>
        <Badge tone={a.pass ? 'good' : 'bad'}>{t(a.pass ? 'eval.pass' : 'eval.fail')}</Badge>
        <span className="small">{t('eval.scoreOf', { score: f.num(a.score, 3) })}</span>
        {a.assertion.threshold !== undefined && <span className="small muted">{t('eval.thresholdOf', { v: f.num(a.assertion.threshold, 3) })}</span>}
        {a.assertion.weight !== undefined && a.assertion.weight !== 1 && <span className="small muted">{t('eval.weightOf', { v: f.num(a.assertion.weight, 3) })}</span>}
      </div>
      {value !== undefined && (
        <div className="small">
          <span className="muted">{t('eval.labelled', { label: t(graded ? 'eval.rubric' : 'eval.expected') })}</span>
          <span className="eval-text" data-field="value">
            {asText(value)}
          </span>
        </div>
      )}
      <div className="small eval-text" data-field="reason">
        <span className="muted">{t('eval.labelled', { label: t('eval.reason') })}</span>
        {a.reason}
      </div>
      {a.grader && (
        <details className="eval-grader">
          <summary>
            {t('eval.graderBy', { model: a.grader.model })}
            {a.grader.costUsd !== undefined && ` · ${f.usd(a.grader.costUsd)}`}
            {a.grader.cached && ` · ${t('eval.cached')}`}
          </summary>
          <h4>{t('eval.graderVerdict')}</h4>
          <pre className="code eval-text" data-field="grader-output">
            {a.grader.output}
          </pre>
          <h4>{t('eval.graderAsked')}</h4>
          <pre className="code eval-text">{a.grader.prompt}</pre>
        </details>
      )}
    </li>
  );
}
