export function readMigrations(dir?: string): { name: string; queries: string[] }[];
export function applyMigrations(db: unknown, migrations?: { name: string; queries: string[] }[]): Promise<void>;
