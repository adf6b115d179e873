/**
 * Stop sequences in the editor, with no DOM (unit-tested in node): how they
 * are written in one text field (comma-separated, with \n and \t escapes, as
 * the server's --stop_sequences flag), and the stop a prompt ending with a
 * label such as "A:" needs: the label that opens its last block ("\nQ:"),
 * where the model would start another question.
 */

const ESCAPES: Record<string, string> = {'n': '\n', 't': '\t', '\\': '\\', ',': ','};

/** The text of one stop with its whitespace escaped (\n, \t; a comma as \,). */
export function escapeStop(stop: string): string {
  return stop.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/,/g, '\\,');
}

/** Stops as one field's text: escaped, comma-separated. */
export function formatStops(stops: readonly string[]): string {
  return stops.map(escapeStop).join(', ');
}

/** A field's text as stops: split at unescaped commas, escapes read, blank ones dropped. */
export function parseStops(text: string): string[] {
  const stops: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length && ESCAPES[text[i + 1]] !== undefined) {
      current += ESCAPES[text[++i]];
    } else if (c === ',') {
      stops.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  stops.push(current);
  // Spaces around the commas are the list's (escaped newlines and tabs are the stop's).
  return stops.map((s) => s.replace(/^ +| +$/g, '')).filter((s) => s !== '');
}

const LABEL = /^([^\s:][^:\n]{0,30}):/;

/**
 * The stop for a prompt whose last line is a label ("A:", "Analysis:"): the
 * label of the first line of its last block of lines, after a newline
 * ("Q: ...\nA:" -> "\nQ:"), which the model writes when it starts another
 * example; undefined when the prompt does not end that way.
 */
export function suggestedStop(prompt: string): string | undefined {
  const lines = prompt.replace(/\s+$/, '').split('\n');
  const last = lines.at(-1) ?? '';
  if (!/^[^\s:][^:\n]{0,30}:$/.test(last.trim())) return undefined;
  let first = lines.length - 1;
  while (first > 0 && lines[first - 1].trim()) first--;
  const label = lines[first].trim().match(LABEL)?.[1];
  if (!label || first === lines.length - 1) return undefined;
  return `\n${label}:`;
}
