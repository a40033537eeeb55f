// `node --import ./trace-imports.mjs …`: appends the URL of every module the process resolves
// to the file named by BAIMO_TRACE_IMPORTS, so a test can tell what a command loads.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.BAIMO_TRACE_IMPORTS, r.url + '\\n');
  return r;
}`)}`,
);
