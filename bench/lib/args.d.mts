// Types of bench/lib/args.mjs for the TypeScript test that imports it (test/bench-args.test.ts).
export declare const SWITCHES: string[];
export declare const VALUED: string[];
export declare class UsageError extends Error {}
export interface BenchArgs {
  issue?: 'only' | 'no';
  keep: boolean;
  quick: boolean;
  list: boolean;
  json?: string;
  scenarios?: string[];
  repeat?: number;
}
export declare function parseArgs(argv: string[]): BenchArgs;
export declare function splitList(text: string): string[];
export declare function stats(
  values: unknown[],
): { median: number; min: number; max: number; n: number } | undefined;
