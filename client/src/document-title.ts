/**
 * A document's display name: its first non-empty line without Markdown heading marks, shortened, or
 * "Untitled document". Used for the header and the page title, so renaming is just editing line 1.
 */

export const UNTITLED = 'Untitled document'
const MAX_TITLE_LENGTH = 60

/** The display name of a document whose text is `text`. */
export function documentTitle(text: string): string {
  const start = text.search(/\S/)
  if (start < 0) return UNTITLED
  const end = text.indexOf('\n', start)
  const line = (end < 0 ? text.slice(start) : text.slice(start, end))
    .replace(/^#{1,6}\s+/, '')
    .replace(/[*_`~]/g, '')
    .trim()
  if (!line) return UNTITLED
  return line.length > MAX_TITLE_LENGTH ? `${line.slice(0, MAX_TITLE_LENGTH - 1).trimEnd()}…` : line
}
