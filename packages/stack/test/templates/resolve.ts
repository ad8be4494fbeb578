/**
 * A tiny CloudFormation evaluator for tests: resolves Ref, Fn::Sub, Fn::GetAtt,
 * Fn::Join, Fn::Split and Fn::ImportValue with given values, so that policies can be
 * simulated and URLs checked as they would be after deployment.
 */
export interface ResolveContext {
  refs: Record<string, string>;
  attributes?: Record<string, string>;
  imports?: Record<string, string>;
}

export function resolve(value: unknown, ctx: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, ctx));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  if (entries.length === 1) {
    const [key, arg] = entries[0]!;
    switch (key) {
      case 'Ref':
        return lookup(ctx.refs, arg as string);
      case 'Fn::GetAtt': {
        const [res, att] = arg as [string, string];
        return lookup(ctx.attributes ?? {}, `${res}.${att}`);
      }
      case 'Fn::Sub': {
        const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
        const resolvedVars = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolve(v, ctx)]));
        return text.replace(/\$\{(!?)([^}]+)\}/g, (_m, bang: string, name: string) => {
          if (bang) return `\${${name}}`;
          if (name in resolvedVars) return String(resolvedVars[name]);
          return name.includes('.') ? lookup(ctx.attributes ?? {}, name) : lookup(ctx.refs, name);
        });
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown];
        return (resolve(parts, ctx) as string[]).join(sep);
      }
      case 'Fn::Split': {
        const [sep, text] = arg as [string, unknown];
        return String(resolve(text, ctx)).split(sep);
      }
      case 'Fn::ImportValue':
        return lookup(ctx.imports ?? {}, resolve(arg, ctx) as string);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v, ctx)]));
}

function lookup(table: Record<string, string>, name: string): string {
  const value = table[name];
  if (value === undefined) throw new Error(`test resolver: no value for ${name}`);
  return value;
}
