/**
 * The arena leaderboard's own strings (Bradley–Terry scores, intervals, votes), kept apart from
 * i18n.ts so the leaderboard can change without touching the console's shared dictionary.
 */
import { useI18n } from './i18n';
import type { Lang } from './i18n';

const en = {
  score: 'Score',
  ci: '95% CI',
  votes: 'Votes',
  record: 'W / L / T',
  noScore: 'no decisive vote',
  about: 'Bradley–Terry scores (mean 1000; 400 points = 10:1 odds), 95% intervals from {rounds} bootstrap rounds. A tie counts half a win to each side; “both bad” votes are not counted. Models whose intervals overlap share a rank.',
};

const zh: typeof en = {
  score: '分数',
  ci: '95% 置信区间',
  votes: '票数',
  record: '胜 / 负 / 平',
  noScore: '没有分出胜负的投票',
  about: 'Bradley–Terry 分数（平均 1000；相差 400 分即 10:1 的胜率），95% 区间来自 {rounds} 轮自助抽样。平局各算半场胜；“都不好”的投票不计入。区间重叠的模型名次相同。',
};

const DICTS: Record<Lang, typeof en> = { en, zh };

export type ArenaKey = keyof typeof en;

export function useArenaText(): (key: ArenaKey, params?: Record<string, string | number>) => string {
  const { lang } = useI18n();
  return (key, params) => {
    const s = DICTS[lang][key] ?? en[key];
    return params ? s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m)) : s;
  };
}
