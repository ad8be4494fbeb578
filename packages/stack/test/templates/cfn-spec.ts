/**
 * Checks a template against the CloudFormation resource specification shipped in
 * @aws-cdk/aws-service-spec: every resource type exists, every property is known and
 * has the right type (recursively into property types), required properties are set,
 * allowed values are respected, and every Ref / Fn::GetAtt / Fn::Sub variable resolves.
 * Intrinsic functions stand for values only known at deploy time and are accepted
 * wherever a value is (their own targets are checked).
 */
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import type { CfnTemplate } from '../../src/templates/cfn.js';

type SpecDb = Awaited<ReturnType<typeof loadAwsServiceSpec>>;
interface SpecProperty {
  type: SpecType;
  required?: boolean;
}
type SpecType =
  | { type: 'string'; allowedValues?: string[] }
  | { type: 'number' }
  | { type: 'integer'; allowedValues?: number[] }
  | { type: 'boolean' }
  | { type: 'json' }
  | { type: 'date-time' }
  | { type: 'null' }
  | { type: 'tag' }
  | { type: 'ref'; reference: { $ref: string } }
  | { type: 'array'; element: SpecType }
  | { type: 'map'; element: SpecType }
  | { type: 'union'; types: SpecType[] };

let dbPromise: Promise<SpecDb> | undefined;
export function specDb(): Promise<SpecDb> {
  dbPromise ??= loadAwsServiceSpec();
  return dbPromise;
}

const PSEUDO = new Set([
  'AWS::AccountId',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackName',
  'AWS::StackId',
  'AWS::URLSuffix',
  'AWS::NoValue',
]);
const INTRINSICS = new Set([
  'Ref',
  'Fn::GetAtt',
  'Fn::Sub',
  'Fn::Join',
  'Fn::Split',
  'Fn::If',
  'Fn::ImportValue',
  'Fn::Select',
  'Fn::Equals',
  'Fn::Not',
]);

function isIntrinsic(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && INTRINSICS.has(keys[0]!);
}

export async function validateTemplate(template: CfnTemplate): Promise<string[]> {
  const db = await specDb();
  const errors: string[] = [];
  const resources = template.Resources;
  const parameters = template.Parameters ?? {};
  const resourceSpecs = new Map<string, ReturnType<SpecDb['all']>[number] & Record<string, unknown>>();

  for (const [id, resource] of Object.entries(resources)) {
    const found = db.lookup('resource', 'cloudFormationType', 'equals', resource.Type);
    if (found.length !== 1) {
      errors.push(`${id}: unknown resource type ${resource.Type}`);
      continue;
    }
    resourceSpecs.set(id, found[0] as never);
  }

  const checkRefs = (where: string, value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        checkRefs(`${where}[${i}]`, v);
      });
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref') {
        const name = inner as string;
        if (!(name in resources) && !(name in parameters) && !PSEUDO.has(name))
          errors.push(`${where}: Ref to unknown ${name}`);
      } else if (key === 'Fn::GetAtt') {
        const [res, att] = inner as [string, string];
        const spec = resourceSpecs.get(res) as { attributes?: Record<string, unknown> } | undefined;
        if (spec === undefined) errors.push(`${where}: GetAtt of unknown resource ${res}`);
        else if (!(att in (spec.attributes ?? {}))) errors.push(`${where}: ${res} has no attribute ${att}`);
      } else if (key === 'Fn::Sub') {
        const [text, vars] =
          typeof inner === 'string' ? [inner, {}] : (inner as [string, Record<string, unknown>]);
        for (const m of text.matchAll(/\$\{([^!}][^}]*)\}/g)) {
          const name = m[1]!;
          const [base, att] = name.split('.');
          if (name in vars || PSEUDO.has(name) || name in parameters) continue;
          if (base! in resources) {
            if (att !== undefined) checkRefs(where, { 'Fn::GetAtt': [base, att] });
            continue;
          }
          errors.push(`${where}: Fn::Sub variable \${${name}} resolves to nothing`);
        }
        checkRefs(where, vars);
      } else {
        checkRefs(`${where}.${key}`, inner);
      }
    }
  };

  const checkType = (where: string, value: unknown, type: SpecType): void => {
    if (isIntrinsic(value)) return;
    switch (type.type) {
      case 'string':
        if (typeof value !== 'string') errors.push(`${where}: expected string, got ${JSON.stringify(value)}`);
        else if (type.allowedValues && !type.allowedValues.includes(value))
          errors.push(`${where}: ${value} not one of ${type.allowedValues.join(', ')}`);
        return;
      case 'number':
        if (typeof value !== 'number') errors.push(`${where}: expected number, got ${JSON.stringify(value)}`);
        return;
      case 'integer':
        if (!Number.isInteger(value)) errors.push(`${where}: expected integer, got ${JSON.stringify(value)}`);
        return;
      case 'boolean':
        if (typeof value !== 'boolean')
          errors.push(`${where}: expected boolean, got ${JSON.stringify(value)}`);
        return;
      case 'json':
        if (typeof value !== 'object' && typeof value !== 'string') errors.push(`${where}: expected JSON`);
        return;
      case 'array':
        if (!Array.isArray(value)) errors.push(`${where}: expected array`);
        else
          value.forEach((v, i) => {
            checkType(`${where}[${i}]`, v, type.element);
          });
        return;
      case 'map':
        if (typeof value !== 'object' || value === null || Array.isArray(value))
          errors.push(`${where}: expected map`);
        else for (const [k, v] of Object.entries(value)) checkType(`${where}.${k}`, v, type.element);
        return;
      case 'union': {
        const before = errors.length;
        const attempts = type.types.map((t) => {
          const mark = errors.length;
          checkType(where, value, t);
          return errors.splice(mark).length === 0;
        });
        errors.length = before;
        if (!attempts.some(Boolean)) errors.push(`${where}: matches none of the union's types`);
        return;
      }
      case 'ref': {
        const def = db.get('typeDefinition', type.reference.$ref) as unknown as {
          name: string;
          properties: Record<string, SpecProperty>;
        };
        checkObject(`${where}<${def.name}>`, value, def.properties);
        return;
      }
      case 'tag':
      case 'date-time':
      case 'null':
        return;
    }
  };

  const checkObject = (where: string, value: unknown, props: Record<string, SpecProperty>): void => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      errors.push(`${where}: expected an object`);
      return;
    }
    for (const [name, inner] of Object.entries(value)) {
      const spec = props[name];
      if (spec === undefined) errors.push(`${where}: unknown property ${name}`);
      else checkType(`${where}.${name}`, inner, spec.type);
    }
    for (const [name, spec] of Object.entries(props)) {
      if (spec.required && !(name in value)) errors.push(`${where}: required property ${name} missing`);
    }
  };

  for (const [id, resource] of Object.entries(resources)) {
    const spec = resourceSpecs.get(id) as { properties: Record<string, SpecProperty> } | undefined;
    if (spec === undefined) continue;
    checkObject(`${id}(${resource.Type})`, resource.Properties, spec.properties);
    checkRefs(id, resource.Properties);
    if (resource.Condition !== undefined && !(resource.Condition in (template.Conditions ?? {})))
      errors.push(`${id}: unknown condition ${resource.Condition}`);
  }
  for (const [name, output] of Object.entries(template.Outputs ?? {})) checkRefs(`Outputs.${name}`, output);
  for (const [name, condition] of Object.entries(template.Conditions ?? {}))
    checkRefs(`Conditions.${name}`, condition);
  return errors;
}
