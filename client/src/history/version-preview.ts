/**
 * A version's text, read-only, with its diff against the current text shown on it. The diff's runs
 * turn the version's text into the current one, so the preview walks them over the version's text:
 * `equal` and `delete` runs cover it in order (a `delete` run is text the version has and today's
 * lacks: struck through), an `insert` run is text today's has and the version lacks, shown where it
 * goes as a widget that is not part of the text. Positions therefore stay the version's own, and a
 * selection in the preview is a range of the version's text (UTF-16 units) as restore wants it.
 */
import { EditorSelection, EditorState, type Range } from '@codemirror/state'
import { Decoration, type DecorationSet, EditorView, WidgetType } from '@codemirror/view'
import type { DiffRun, TextRange } from './history-api.ts'

/** Most characters of one insertion shown in the preview; the rest is summed up. */
export const SHOWN_INSERT_CHARS = 400

/** Where the diff marks the version's text: ranges the current text lacks, and insertions with their place. */
export interface DiffMarks {
  deleted: TextRange[]
  inserted: Array<{ at: number; text: string }>
}

/** The marks of `runs` on the version's text; null when the runs do not cover exactly `length` units. */
export function diffMarks(runs: readonly DiffRun[], length: number): DiffMarks | null {
  const marks: DiffMarks = { deleted: [], inserted: [] }
  let at = 0
  for (const run of runs) {
    if ('equal' in run) at += run.equal
    else if ('delete' in run) {
      marks.deleted.push({ from: at, to: at + run.delete.length })
      at += run.delete.length
    } else marks.inserted.push({ at, text: run.insert })
  }
  return at === length ? marks : null
}

class InsertionWidget extends WidgetType {
  constructor(readonly text: string) {
    super()
  }

  override eq(other: InsertionWidget): boolean {
    return other.text === this.text
  }

  toDOM(): HTMLElement {
    const ins = document.createElement('ins')
    ins.className = 'cm-history-insert'
    ins.title = 'In the current text, not in this version'
    const shown = this.text.length > SHOWN_INSERT_CHARS ? this.text.slice(0, SHOWN_INSERT_CHARS) : this.text
    ins.textContent = shown
    if (shown.length < this.text.length) {
      const more = document.createElement('span')
      more.className = 'cm-history-insert-more'
      more.textContent = ` … ${this.text.length - shown.length} more characters`
      ins.append(more)
    }
    return ins
  }

  override ignoreEvent(): boolean {
    return false
  }
}

const deletedMark = Decoration.mark({
  tagName: 'del',
  class: 'cm-history-delete',
  attributes: { title: 'In this version, not in the current text' },
})

function diffDecorations(marks: DiffMarks): DecorationSet {
  const ranges: Range<Decoration>[] = []
  for (const { from, to } of marks.deleted) if (to > from) ranges.push(deletedMark.range(from, to))
  for (const { at, text } of marks.inserted) {
    // side 1: after a deletion ending at the same place, as the current text has it.
    ranges.push(Decoration.widget({ widget: new InsertionWidget(text), side: 1 }).range(at))
  }
  return Decoration.set(ranges, true)
}

const previewTheme = EditorView.theme({
  '&': { height: '100%', color: 'var(--fg)', backgroundColor: 'var(--editor-bg)' },
  '.cm-scroller': { fontFamily: 'var(--font-mono)', lineHeight: '1.6', overflow: 'auto' },
  '.cm-content': { padding: '12px 0 24px' },
  '.cm-line': { padding: '0 16px' },
  '&.cm-focused': { outline: '2px solid var(--accent)', outlineOffset: '-2px' },
  '.cm-selectionBackground, &.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground': {
    backgroundColor: 'var(--selection)',
  },
})

/** A read-only preview in `parent`; `onSelect` hears the selected range (null when empty) after each change. */
export class VersionPreview {
  readonly view: EditorView
  readonly #onSelect: (range: TextRange | null) => void

  constructor(parent: HTMLElement, onSelect: (range: TextRange | null) => void) {
    this.#onSelect = onSelect
    this.view = new EditorView({ parent, state: this.#state('', null) })
  }

  /** Shows `text` with `runs` (its diff against the current text) marked; the selection starts empty. */
  show(text: string, runs: readonly DiffRun[] | null): void {
    const marks = runs ? diffMarks(runs, text.length) : null
    this.view.setState(this.#state(text, marks))
    this.#onSelect(null)
  }

  /** The selected range of the version's text, or null when nothing is selected. */
  selection(): TextRange | null {
    const { from, to } = this.view.state.selection.main
    return to > from ? { from, to } : null
  }

  /** Selects `range` (for keyboard users and tests: the same as selecting it by hand). */
  select(range: TextRange): void {
    this.view.dispatch({ selection: EditorSelection.single(range.from, range.to) })
  }

  destroy(): void {
    this.view.destroy()
  }

  #state(text: string, marks: DiffMarks | null): EditorState {
    const onSelect = this.#onSelect
    return EditorState.create({
      doc: text,
      extensions: [
        // Only \n splits lines, so positions are the text's own UTF-16 units even where it has \r.
        EditorState.lineSeparator.of('\n'),
        EditorState.readOnly.of(true),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({
          'aria-label': 'The version’s text (read-only); select a passage to restore only that',
          'aria-readonly': 'true',
          inputmode: 'none',
        }),
        EditorView.decorations.of(marks ? diffDecorations(marks) : Decoration.none),
        EditorView.updateListener.of((update) => {
          if (!update.selectionSet) return
          const { from, to } = update.state.selection.main
          onSelect(to > from ? { from, to } : null)
        }),
        previewTheme,
      ],
    })
  }
}
