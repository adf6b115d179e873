/** The current view as JSON (segments and scores) or as a standalone HTML page. */

import type {LegendText} from './contrastive.js';

export interface ExportedSegment {
  role: 'prompt' | 'output';
  text: string;
  /** Summed token salience; null where the view shows no score (after the selection). */
  score: number | null;
  color: string;
  selected: boolean;
  /** The chat template's own tokens (greyed out, no score); absent otherwise. */
  template?: boolean;
}

export interface ExportedView {
  model: string;
  /** Plain ("why the output?") or contrastive ("why the output instead of the foil?"). */
  view: 'plain' | 'contrastive';
  /** The foil of a contrastive view, as sent to the server; null for a plain one. */
  foil: string | null;
  method: string;
  granularity: string;
  pattern?: string;
  source?: string;
  prompt: string;
  output: string;
  selection: {text: string, firstSegment: number, lastSegment: number};
  /** The score shown at full colour. */
  scaleMax: number;
  signed: boolean;
  legend: Array<{value: number, color: string}>;
  /** What the legend says: its caption, what each end of the scale means, one sentence on the colours. */
  legendText: LegendText;
  segments: ExportedSegment[];
}

export function viewToJson(view: ExportedView): string {
  return JSON.stringify(view, null, 2);
}

const ESCAPES: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;'};
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export function formatScore(value: number): string {
  return Number(value.toPrecision(4)).toString();
}

/** A self-contained HTML file showing the same segments in the same colours. */
export function viewToHtml(view: ExportedView, textColor: (background: string) => string): string {
  const chip = (s: ExportedSegment) => {
    const tip = s.template ? 'chat template (not scored)' : s.score === null ? '' : `${view.method}: ${s.score}`;
    const title = tip ? ` title="${escapeHtml(tip)}"` : '';
    const style = s.template ? '' : ` style="background:${s.color};color:${textColor(s.color)}"`;
    const cls = `seg ${s.role}${s.selected ? ' selected' : ''}${s.template ? ' template' : ''}`;
    return `<span class="${cls}"${style}${title}>${escapeHtml(s.text)}</span>`;
  };
  const words = view.legendText;
  const swatches = view.legend.map((l) =>
      `<span class="swatch" style="background:${l.color};color:${textColor(l.color)}">${formatScore(l.value)}</span>`).join('');
  const end = (text: string | undefined, cls: string) => text ? `<span class="end ${cls}">${escapeHtml(text)}</span>` : '';
  const legend = `<span class="caption">${escapeHtml(words.caption)}</span>` +
      `${end(words.negative ?? words.low, words.negative ? 'negative' : 'low')}${swatches}${end(words.positive, 'positive')}`;
  const granularity = view.granularity === 'custom' ? `custom /${view.pattern ?? ''}/` : view.granularity;
  const kind = view.view === 'contrastive' ? 'Contrastive' : 'Plain';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Sequence salience: ${escapeHtml(view.selection.text.trim().slice(0, 60))}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:960px;color:#1a1a1a}
.text{white-space:pre-wrap;line-height:1.7;font-size:14px;border:1px solid #ddd;padding:12px;border-radius:6px}
.seg{border-radius:3px}
.seg.selected{outline:2px solid #d6004c;outline-offset:1px}
.output{font-style:italic}
.legend{margin:12px 0 4px}.swatch{display:inline-block;padding:2px 8px;font-size:12px;border:1px solid #ccc}
.legend .caption,.legend .end{font-size:12px;color:#444;margin:0 8px}.legend-text{font-size:13px;color:#333;margin:0 0 12px}
.template{color:#9e9e9e;background:#f5f5f5}
.kind{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;background:#eceff1}
.kind.contrastive{background:#3c1361;color:#fff}
.text.contrastive{border:2px solid #7a4fa3;border-left:6px solid #c05a00}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{font-weight:600}
</style></head><body>
<h1>Sequence salience</h1>
<p><span class="kind ${view.view}" data-view="${view.view}">${kind} view</span></p>
<dl><dt>Model</dt><dd>${escapeHtml(view.model)}</dd><dt>Method</dt><dd>${escapeHtml(view.method)}</dd>
<dt>Granularity</dt><dd>${escapeHtml(granularity)}</dd>
<dt>Explained output</dt><dd>${escapeHtml(view.selection.text)}</dd>
${view.foil !== null ? `<dt>Instead of</dt><dd class="foil">${escapeHtml(view.foil)}</dd>
` : ''}${view.source ? `<dt>Example</dt><dd>${escapeHtml(view.source)}</dd>` : ''}</dl>
<div class="legend">${legend}</div>
<p class="legend-text">${escapeHtml(words.explanation)}</p>
<div class="text ${view.view}">${view.segments.map(chip).join('')}</div>
<p>Hover a segment for its exact score. Output text is in italics; the explained part is outlined.</p>
</body></html>
`;
}
