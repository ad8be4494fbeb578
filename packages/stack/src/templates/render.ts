import { type CfnTemplate, renderTemplate, TEMPLATE_BODY_MAX_BYTES } from './cfn.js';
import { type DeviceTemplateOptions, deviceStackName, deviceTemplate } from './device-template.js';
import { DEFAULT_GUARD_STACK_NAME, type GuardTemplateOptions, guardTemplate } from './guard-template.js';

export interface RenderedTemplate {
  kind: 'guard' | 'device';
  /** The stack the template is meant for. */
  stackName: string;
  /** A file name to write it to, e.g. `backupctl-guard.template.json`. */
  fileName: string;
  template: CfnTemplate;
  /** The JSON text: what is deployed as `TemplateBody`. */
  body: string;
}

export interface RenderTemplatesOptions {
  guard?: GuardTemplateOptions & { stackName?: string };
  devices?: DeviceTemplateOptions[];
}

/**
 * Renders the guard template and any device templates to JSON, checked against
 * CloudFormation's inline template size limit.
 */
export function renderTemplates(options: RenderTemplatesOptions): RenderedTemplate[] {
  const out: RenderedTemplate[] = [];
  const add = (kind: RenderedTemplate['kind'], stackName: string, template: CfnTemplate): void => {
    const body = renderTemplate(template);
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > TEMPLATE_BODY_MAX_BYTES) {
      throw new RangeError(
        `${stackName}: template is ${bytes} bytes, over CloudFormation's ${TEMPLATE_BODY_MAX_BYTES}`,
      );
    }
    out.push({ kind, stackName, fileName: `${stackName}.template.json`, template, body });
  };
  if (options.guard !== undefined) {
    const { stackName, ...guardOptions } = options.guard;
    add('guard', stackName ?? DEFAULT_GUARD_STACK_NAME, guardTemplate(guardOptions));
  }
  for (const device of options.devices ?? []) {
    add('device', deviceStackName(device.deviceUser), deviceTemplate(device));
  }
  return out;
}
