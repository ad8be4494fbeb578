export * from './bucket/index.js';
export * from './deploy/index.js';
export * from './destroy/destroy-device.js';
export * from './drill/guard-drill.js';
export * from './filter-pattern/index.js';
export * from './guard/guard-status.js';
export * from './guard-pattern.js';
export * from './init/index.js';
export * from './lambda/index.js';
export * from './recover/recover-device.js';
export * from './replay/index.js';
export {
  type CfnTemplate,
  consoleFragmentEncode,
  DEFAULT_GUARD_STACK_NAME,
  DEFAULT_TRAIL_LOG_GROUP,
  DeviceIds,
  DeviceOutputs,
  type DeviceStackOptions,
  type DeviceTemplateOptions,
  deviceStackName,
  deviceStackTemplate,
  deviceTemplate,
  deviceUserName,
  GUARD_ALARM_NAME_PREFIX,
  GuardIds,
  GuardOutputs,
  type GuardTemplateOptions,
  guardAlarmName,
  guardFunctionExportName,
  guardTemplate,
  LOG_RETENTION_DAYS,
  type PolicyDocument,
  QUARANTINE_LAMBDA_RUNTIME,
  QUARANTINE_SWEEP_SCHEDULE,
  type RenderedTemplate,
  type RenderTemplatesOptions,
  renderTemplate,
  renderTemplates,
  TEMPLATE_VERSION,
} from './templates/index.js';
export * from './trail/index.js';
