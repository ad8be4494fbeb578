/**
 * The device config's file name in the config folder. Its own module so that the key
 * warm-up at start-up (operations/key-warm-up.ts) finds the file without loading the
 * config schema (zod).
 */
export const CONFIG_FILE = 'config.json';
