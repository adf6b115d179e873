/**
 * The example list as a WAI-ARIA listbox, with no DOM (unit-tested in node):
 * the list takes the focus, the arrow keys, Home and End move the active
 * option, Enter or Space picks it, and typing a name's first letters jumps
 * to it (type-ahead; the typed letters are forgotten after a pause).
 */

/** How long typed letters stay part of one type-ahead search, in ms. */
export const TYPE_AHEAD_MS = 700;

export interface ListboxState {
  /** The active option (aria-activedescendant); -1 for none. */
  active: number;
  /** Letters typed so far, and when the last one was. */
  typed: string;
  typedAt: number;
}

export const LISTBOX_START: ListboxState = {active: -1, typed: '', typedAt: 0};

/** What a key press does: move the active option, pick it, or nothing (undefined). */
export interface ListboxStep {
  state: ListboxState;
  /** Pick the active option (Enter, Space). */
  pick: boolean;
}

/**
 * The step for `key` among options named `names` (the active option starts
 * at `selected` when there is none). Undefined for keys the list does not use.
 */
export function listboxKey(state: ListboxState, key: string, names: readonly string[], selected: number,
                           now: number): ListboxStep | undefined {
  const n = names.length;
  if (!n) return undefined;
  const from = state.active >= 0 && state.active < n ? state.active : selected;
  const move = (active: number): ListboxStep => ({state: {...state, active, typed: ''}, pick: false});
  switch (key) {
    case 'ArrowDown': return move(from < 0 ? 0 : Math.min(n - 1, from + 1));
    case 'ArrowUp': return move(from < 0 ? n - 1 : Math.max(0, from - 1));
    case 'Home': return move(0);
    case 'End': return move(n - 1);
    case 'Enter': return from >= 0 ? {state: {...state, active: from, typed: ''}, pick: true} : undefined;
  }
  if (key === ' ' && !(state.typed && now - state.typedAt < TYPE_AHEAD_MS)) {
    return from >= 0 ? {state: {...state, active: from, typed: ''}, pick: true} : undefined;
  }
  if (key.length !== 1) return undefined;
  // Type-ahead: the next option (from the active one; with one repeated letter,
  // after it) whose name starts with the letters typed.
  const typed = (now - state.typedAt < TYPE_AHEAD_MS ? state.typed : '') + key.toLowerCase();
  const repeated = [...typed].every((c) => c === typed[0]);
  const search = repeated && typed.length > 1 ? typed[0] : typed;
  const start = repeated ? from + 1 : Math.max(from, 0);
  for (let k = 0; k < n; k++) {
    const i = (start + k + n) % n;
    if (names[i].toLowerCase().startsWith(search)) return {state: {active: i, typed, typedAt: now}, pick: false};
  }
  return {state: {...state, typed, typedAt: now}, pick: false};
}
