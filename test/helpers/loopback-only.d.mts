/** Hosts that something tried to reach outside loopback (should stay empty). */
export function blockedHosts(): string[];
