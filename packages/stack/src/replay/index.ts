export {
  type CloudTrailRecord,
  type LocatedRecord,
  readCloudTrailRecords,
} from './read-cloudtrail-records.js';
export {
  type ReplayMatch,
  type ReplayOptions,
  type ReplayResult,
  replayCloudTrail,
} from './replay-cloudtrail.js';
export { ReplayError, type ReplayErrorCode } from './replay-error.js';
