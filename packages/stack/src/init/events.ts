import type { DeployProgress } from '../deploy/deploy-stack.js';

/** The steps of `init`, `recover` and `destroy`, in the order they run. */
export type GuardStep =
  | 'account'
  | 'trail'
  | 'data-events'
  | 'bucket'
  | 'guard-stack'
  | 'device-stack'
  | 'access-key'
  | 'probe'
  | 'metric'
  | 'alarm'
  | 'repository'
  | 'events'
  | 'delete-keys'
  | 'wait-alarm'
  | 'detach-deny-all'
  | 'local-state'
  | 'drill'
  | 'backups'
  | 'config';

/**
 * What the library tells its caller as it goes; the CLI renders it. `start`: a step
 * begins; `done`: it changed something; `ok`: nothing needed changing; `plan`: in a dry
 * run, what would be done; `wait`: waiting on AWS (propagation, an alarm); `warn`: the
 * owner should look at something; `info`: a fact to print (cost, a note).
 */
export type GuardEvent =
  | { type: 'start' | 'done' | 'ok' | 'plan' | 'wait' | 'warn' | 'info'; step: GuardStep; text: string }
  | { type: 'deploy'; step: GuardStep; progress: DeployProgress };

export type GuardEventSink = (event: GuardEvent) => void;

export const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
