/**
 * Authorship shown in the editor: the text coloured by who wrote it (a CodeMirror mark per span of
 * the server's /authors answer, with the author's name as its title, shown on hover), and a legend
 * panel under the text naming each author with their colour and how many characters they wrote.
 *
 * The marks live in a state field that maps them through every change, local or remote, so colours
 * stay on their text between fetches; text typed since the last fetch is uncoloured until the next.
 */
import {
  type ChangeSet,
  type EditorState,
  type Extension,
  type Range,
  StateEffect,
  StateField,
} from '@codemirror/state'
import { Decoration, type DecorationSet, EditorView, type Panel, showPanel } from '@codemirror/view'
import { authorColors } from './author-colors.ts'
import type { Authorship } from './authors-api.ts'

/** One author in the legend. */
export interface LegendEntry {
  key: string
  name: string
  color: string
  chars: number
}

/** What the editor shows: the marks, the legend, and a line about the last fetch ('' when fine). */
export interface AuthorshipShown {
  decorations: DecorationSet
  legend: readonly LegendEntry[]
  note: string
}

/** Shows new authorship, or only a new note (`{ note }`). */
export const showAuthorship = StateEffect.define<Partial<AuthorshipShown>>()

/**
 * The marks of `authorship` laid on a text of its length, then mapped through `since` (the changes
 * made to that text since it was read), and the legend, most characters first.
 */
export function authorshipShown(authorship: Authorship, since: ChangeSet | null = null): AuthorshipShown {
  const authors = [...authorship.authors].sort((a, b) => b.chars - a.chars || a.name.localeCompare(b.name))
  const colors = authorColors(authors)
  const names = new Map(authors.map((a) => [a.key, a.name]))
  const marks = new Map<string, Decoration>()
  const markOf = (key: string) => {
    let mark = marks.get(key)
    if (!mark) {
      mark = Decoration.mark({
        class: 'cm-author',
        attributes: {
          title: names.get(key) ?? key,
          style: `--author-color: ${colors.get(key)}`,
          'data-author': key,
        },
      })
      marks.set(key, mark)
    }
    return mark
  }
  const ranges: Range<Decoration>[] = []
  let at = 0
  for (const span of authorship.spans) {
    if (span.author !== null && span.length > 0 && colors.has(span.author)) {
      ranges.push(markOf(span.author).range(at, at + span.length))
    }
    at += span.length
  }
  let decorations = Decoration.set(ranges)
  if (since) decorations = decorations.map(since)
  const legend = authors
    .filter((a) => a.chars > 0)
    .map((a) => ({ key: a.key, name: a.name, color: colors.get(a.key)!, chars: a.chars }))
  return { decorations, legend, note: '' }
}

const authorshipField = StateField.define<AuthorshipShown>({
  create: () => ({ decorations: Decoration.none, legend: [], note: 'Loading who wrote what…' }),
  update(value, tr) {
    let next = tr.docChanged ? { ...value, decorations: value.decorations.map(tr.changes) } : value
    for (const effect of tr.effects) if (effect.is(showAuthorship)) next = { ...next, ...effect.value }
    return next
  },
  provide: (field) => EditorView.decorations.from(field, (value) => value.decorations),
})

const CHARS = new Intl.NumberFormat()

function legendPanel(view: EditorView): Panel {
  const dom = document.createElement('div')
  dom.className = 'cm-authors-legend'
  dom.setAttribute('role', 'group')
  dom.setAttribute('aria-label', 'Authors')
  let shown: AuthorshipShown | null = null
  const render = (state: EditorState) => {
    const value = state.field(authorshipField)
    if (shown && value.legend === shown.legend && value.note === shown.note) return
    shown = value
    const heading = document.createElement('span')
    heading.className = 'cm-authors-heading'
    heading.textContent = 'Written by'
    const entries = value.legend.map((entry) => {
      const item = document.createElement('span')
      item.className = 'cm-authors-entry'
      item.dataset.author = entry.key
      item.title = `${entry.name}: ${CHARS.format(entry.chars)} characters`
      const swatch = document.createElement('span')
      swatch.className = 'cm-authors-swatch'
      swatch.style.setProperty('--author-color', entry.color)
      const name = document.createElement('span')
      name.className = 'cm-authors-name'
      name.textContent = entry.name
      const chars = document.createElement('span')
      chars.className = 'cm-authors-chars'
      chars.textContent = CHARS.format(entry.chars)
      item.append(swatch, name, chars)
      return item
    })
    const note = document.createElement('span')
    note.className = 'cm-authors-note'
    note.textContent = value.note || (entries.length === 0 ? 'No text yet.' : '')
    dom.replaceChildren(heading, ...entries, note)
  }
  render(view.state)
  return { dom, update: (update) => render(update.state) }
}

const authorshipTheme = EditorView.theme({
  '.cm-author': {
    backgroundColor: 'color-mix(in srgb, var(--author-color) var(--author-mix, 22%), transparent)',
    borderBottom: '2px solid var(--author-color)',
  },
  '.cm-authors-legend': {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: '6px 14px',
    padding: '6px 12px',
    fontFamily: 'var(--font-ui)',
    fontSize: '12px',
    borderTop: '1px solid var(--border)',
  },
  '.cm-authors-heading': { fontWeight: '600', color: 'var(--muted)' },
  '.cm-authors-entry': { display: 'inline-flex', alignItems: 'center', gap: '6px', minWidth: '0' },
  '.cm-authors-swatch': {
    width: '12px',
    height: '12px',
    borderRadius: '3px',
    flex: 'none',
    backgroundColor: 'var(--author-color)',
  },
  '.cm-authors-name': {
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
    maxWidth: '160px',
  },
  '.cm-authors-chars': { color: 'var(--muted)', fontVariantNumeric: 'tabular-nums' },
  '.cm-authors-note': { color: 'var(--muted)' },
})

/** The editor's side of the toggle: the marks, the legend, and `onDocChange(changes)` after each change. */
export function authorshipExtension(onDocChange: (changes: ChangeSet) => void): Extension {
  return [
    authorshipField,
    showPanel.of(legendPanel),
    authorshipTheme,
    EditorView.updateListener.of((update) => {
      if (update.docChanged) onDocChange(update.changes)
    }),
  ]
}
