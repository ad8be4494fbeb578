#!/usr/bin/env node
import { execute } from '@oclif/core';

// The AWS SDK warns on every run that its releases after early 2027 need Node >= 22.
// backupctl supports Node >= 20 and is tested on 24 too; the notice belongs in the
// README, not in every journal entry of an hourly timer. (The SDK's own switch.)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

await execute({ dir: import.meta.url });
