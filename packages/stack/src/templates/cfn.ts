/**
 * Just enough CloudFormation typing to write templates as plain objects. Templates are
 * data: `JSON.stringify` of a `CfnTemplate` is the deployable artefact (no CDK, no
 * synthesis step). Property names are checked against the CloudFormation resource
 * specification in the tests, not here.
 */

export type CfnValue = string | number | boolean | CfnIntrinsic | CfnValue[] | { [key: string]: CfnValue };

export type CfnIntrinsic =
  | { Ref: string }
  | { 'Fn::GetAtt': [string, string] }
  | { 'Fn::Sub': string | [string, Record<string, CfnValue>] }
  | { 'Fn::Join': [string, CfnValue[] | CfnIntrinsic] }
  | { 'Fn::Split': [string, CfnValue] }
  | { 'Fn::If': [string, CfnValue, CfnValue] }
  | { 'Fn::Equals': [CfnValue, CfnValue] }
  | { 'Fn::Not': [CfnValue] }
  | { 'Fn::ImportValue': CfnValue };

export interface CfnParameter {
  Type: 'String' | 'Number';
  Description: string;
  Default?: string | number;
  AllowedValues?: (string | number)[];
  AllowedPattern?: string;
  ConstraintDescription?: string;
  MinLength?: number;
  MaxLength?: number;
  MinValue?: number;
  MaxValue?: number;
}

export interface CfnResource {
  Type: string;
  Properties: Record<string, CfnValue>;
  Condition?: string;
  DependsOn?: string[];
  DeletionPolicy?: 'Delete' | 'Retain' | 'Snapshot';
  UpdateReplacePolicy?: 'Delete' | 'Retain' | 'Snapshot';
}

export interface CfnOutput {
  Description: string;
  Value: CfnValue;
  Export?: { Name: CfnValue };
  Condition?: string;
}

export interface CfnTemplate {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Metadata?: Record<string, CfnValue>;
  Parameters?: Record<string, CfnParameter>;
  Conditions?: Record<string, CfnIntrinsic>;
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, CfnOutput>;
}

export const ref = (name: string): CfnIntrinsic => ({ Ref: name });
export const getAtt = (resource: string, attribute: string): CfnIntrinsic => ({
  'Fn::GetAtt': [resource, attribute],
});
export const sub = (text: string, variables?: Record<string, CfnValue>): CfnIntrinsic =>
  variables === undefined ? { 'Fn::Sub': text } : { 'Fn::Sub': [text, variables] };
export const join = (separator: string, values: CfnValue[] | CfnIntrinsic): CfnIntrinsic => ({
  'Fn::Join': [separator, values],
});
export const split = (separator: string, value: CfnValue): CfnIntrinsic => ({
  'Fn::Split': [separator, value],
});
export const importValue = (name: CfnValue): CfnIntrinsic => ({ 'Fn::ImportValue': name });

/** Escape `${` for a literal inside an `Fn::Sub` string. */
export function subLiteral(text: string): string {
  return text.replaceAll('${', '${!');
}

/** The deployable JSON text of a template. */
export function renderTemplate(template: CfnTemplate): string {
  return `${JSON.stringify(template, null, 2)}\n`;
}

/** CloudFormation's limit on a template passed inline as `TemplateBody`. */
export const TEMPLATE_BODY_MAX_BYTES = 51_200;
