/**
 * What a SIGHUP can change in a running gateway. The split is data: a setting marked `reload`
 * in the settings table is applied live, every other one waits for a restart (its listener,
 * TLS files, upstream or service was built once at start).
 */
import { isDeepStrictEqual } from 'node:util';
import { SETTINGS, type Settings } from './settings.js';

export interface ReloadPlan {
  /** Changed settings applied live (in the settings table's order). */
  readonly applied: string[];
  /** Changed settings the running gateway keeps at their old values until a restart. */
  readonly needsRestart: string[];
}

/** Keys SIGHUP applies, from the settings table. */
export const RELOADABLE: ReadonlySet<keyof Settings> = new Set(SETTINGS.filter((s) => s.reload === true).map((s) => s.key));

/** Every key of Settings: the table, plus `domains` (config file only, never reloadable). */
const ALL_KEYS: readonly (keyof Settings)[] = [...SETTINGS.map((s) => s.key), 'domains'];

/** Which settings differ between `running` and `next`, split into applied and restart-only. */
export function diffSettings(running: Settings, next: Settings): ReloadPlan {
  const applied: string[] = [];
  const needsRestart: string[] = [];
  for (const key of ALL_KEYS) {
    // Deep: lists, HOST:PORT objects and the domains Map compare by content.
    if (isDeepStrictEqual(running[key], next[key])) continue;
    (RELOADABLE.has(key) ? applied : needsRestart).push(key);
  }
  return { applied, needsRestart };
}

/** `running` with the reloadable settings of `next`; restart-only ones keep their running values. */
export function withReloadable(running: Settings, next: Settings): Settings {
  const merged = { ...running } as Record<keyof Settings, unknown>;
  for (const key of RELOADABLE) merged[key] = next[key];
  return merged as unknown as Settings;
}
