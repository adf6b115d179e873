/** The current view as JSON (segments and scores) or as a standalone HTML page. */

export interface ExportedSegment {
  role: 'prompt' | 'output';
  text: string;
  /** Summed token salience; null where the view shows no score (after the selection). */
  score: number | null;
  color: string;
  selected: boolean;
}

export interface ExportedView {
  model: string;
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
    const title = s.score === null ? '' : ` title="${escapeHtml(`${view.method}: ${s.score}`)}"`;
    const style = `background:${s.color};color:${textColor(s.color)}`;
    const cls = `seg ${s.role}${s.selected ? ' selected' : ''}`;
    return `<span class="${cls}" style="${style}"${title}>${escapeHtml(s.text)}</span>`;
  };
  const legend = view.legend.map((l) =>
      `<span class="swatch" style="background:${l.color};color:${textColor(l.color)}">${formatScore(l.value)}</span>`).join('');
  const granularity = view.granularity === 'custom' ? `custom /${view.pattern ?? ''}/` : view.granularity;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Sequence salience: ${escapeHtml(view.selection.text.trim().slice(0, 60))}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:960px;color:#1a1a1a}
.text{white-space:pre-wrap;line-height:1.7;font-size:14px;border:1px solid #ddd;padding:12px;border-radius:6px}
.seg{border-radius:3px}
.seg.selected{outline:2px solid #d6004c;outline-offset:1px}
.output{font-style:italic}
.legend{margin:12px 0}.swatch{display:inline-block;padding:2px 8px;font-size:12px;border:1px solid #ccc}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{font-weight:600}
</style></head><body>
<h1>Sequence salience</h1>
<dl><dt>Model</dt><dd>${escapeHtml(view.model)}</dd><dt>Method</dt><dd>${escapeHtml(view.method)}</dd>
<dt>Granularity</dt><dd>${escapeHtml(granularity)}</dd>
<dt>Explained output</dt><dd>${escapeHtml(view.selection.text)}</dd>
${view.source ? `<dt>Example</dt><dd>${escapeHtml(view.source)}</dd>` : ''}</dl>
<div class="legend">${legend}</div>
<div class="text">${view.segments.map(chip).join('')}</div>
<p>Hover a segment for its exact score. Output text is in italics; the explained part is outlined.</p>
</body></html>
`;
}
