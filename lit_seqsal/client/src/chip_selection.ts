/**
 * Selecting output chips with the mouse and the keyboard, as a Lit reactive
 * controller: click selects a segment, shift-click extends the selection,
 * a drag selects a range (shown while dragging, asked for on release), the
 * arrow keys move it and Shift+arrows extend it, Home/End jump, Escape clears
 * (the key arithmetic is pane_view.keyMove). Chips are elements with
 * data-role="output" and their index in data-i.
 */

import type {ReactiveController, ReactiveControllerHost} from 'lit';

import {keyMove} from './pane_view.js';
import type {Selection} from './pane_view.js';

/** What the controller reads and sets on its host. */
export interface ChipSelectionHost extends ReactiveControllerHost {
  /** The selection as shown (set while dragging, without asking for scores). */
  selection: Selection;
  /** How many output segments there are. */
  readonly outputCount: number;
  /** Selects and asks for the selection's scores. */
  select(anchor: number, focus: number): void;
  clearSelection(): void;
  /** The element that takes the keyboard focus when a chip is clicked. */
  focusTarget(): HTMLElement | null;
}

/** How far the pointer moves before a drag extends the selection (not a layout shift under a still pointer). */
const DRAG_PX = 3;

export class ChipSelection implements ReactiveController {
  /** A drag is under way: the selection is shown, its scores asked for on release. */
  dragging = false;
  private dragFrom = {x: 0, y: 0};
  private release?: () => void;

  constructor(private readonly host: ChipSelectionHost) {
    host.addController(this);
  }

  hostDisconnected() {
    this.endDrag();
  }

  readonly onMouseDown = (e: MouseEvent) => {
    const i = outputIndex(e);
    if (i < 0 || e.button !== 0) return;
    e.preventDefault();  // no text selection while dragging
    // Keyboard selection starts from here; no scrolling under the pointer mid-click.
    this.host.focusTarget()?.focus({preventScroll: true});
    const {anchor} = this.host.selection;
    if (e.shiftKey && anchor >= 0) {
      this.host.select(anchor, i);
      return;
    }
    this.endDrag();
    this.dragging = true;
    this.dragFrom = {x: e.clientX, y: e.clientY};
    this.host.selection = {anchor: i, focus: i};
    const up = () => {
      this.endDrag();
      const {anchor: from, focus: to} = this.host.selection;
      this.host.select(from, to);
    };
    this.release = () => window.removeEventListener('mouseup', up);
    window.addEventListener('mouseup', up);
  };

  readonly onMouseOver = (e: MouseEvent) => {
    if (!this.dragging) return;
    if (Math.abs(e.clientX - this.dragFrom.x) < DRAG_PX && Math.abs(e.clientY - this.dragFrom.y) < DRAG_PX) return;
    const i = outputIndex(e);
    if (i >= 0) this.host.selection = {anchor: this.host.selection.anchor, focus: i};
  };

  readonly onKeyDown = (e: KeyboardEvent) => {
    const next = keyMove(this.host.selection, e.key, e.shiftKey, this.host.outputCount);
    if (next === 'clear') {
      this.host.clearSelection();
    } else if (next) {
      e.preventDefault();  // the arrows and Home/End would scroll the page
      this.host.select(next.anchor, next.focus);
    }
  };

  private endDrag() {
    this.dragging = false;
    this.release?.();
    this.release = undefined;
  }
}

/** The index of the output chip an event is on, or -1. */
function outputIndex(e: Event): number {
  const target = e.target as HTMLElement | null;
  if (target?.dataset?.['role'] !== 'output') return -1;
  return Number(target.dataset['i']);
}
