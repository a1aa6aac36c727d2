export declare const ROOT: string;
export declare const WRANGLER_ENV: Record<string, string>;
export declare function freePort(): Promise<number>;
export declare function killTree(pid: number, signal?: NodeJS.Signals): void;
export interface WranglerDev {
  url: string;
  port: number;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}
export declare function applyLocalMigrations(stateDir: string, stdio?: "inherit" | "pipe"): void;
export declare function startWranglerDev(opts: { port?: number; stateDir: string; vars?: Record<string, string>; stdio?: "inherit" | "pipe" | "ignore"; timeoutMs?: number }): Promise<WranglerDev>;
