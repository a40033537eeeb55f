/** The trust suites' perspectives, in the order a run takes them (a module of its own so the CLI's help names them without loading the suites). */
export const PERSPECTIVES = ['jailbreak', 'over-refusal', 'toxicity', 'stereotype', 'privacy', 'hallucination'] as const;
export type Perspective = (typeof PERSPECTIVES)[number];

export const isPerspective = (name: string): name is Perspective => (PERSPECTIVES as readonly string[]).includes(name);
