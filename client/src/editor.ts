/**
 * The CodeMirror 6 editor bound to a room's `Y.Text`: line numbers, Markdown highlighting (with code
 * blocks in their languages, loaded on demand), soft wrap, remote carets with names, and undo/redo
 * through Yjs' UndoManager so it only undoes this user's edits.
 */
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { markdown, markdownLanguage } from '@codemirror/lang-markdown'
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language'
import { languages } from '@codemirror/language-data'
import { highlightSelectionMatches, search, searchKeymap } from '@codemirror/search'
import { EditorState } from '@codemirror/state'
import {
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view'
import { tags } from '@lezer/highlight'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import type { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { guardPresence } from './presence-states.ts'
import { readOnlyMode } from './read-only.ts'

/** Colours come from CSS variables so one style serves light and dark mode. */
const markdownHighlight = HighlightStyle.define([
  { tag: tags.heading1, fontSize: '1.4em', fontWeight: '700', color: 'var(--hl-heading)' },
  { tag: tags.heading2, fontSize: '1.2em', fontWeight: '700', color: 'var(--hl-heading)' },
  {
    tag: [tags.heading3, tags.heading4, tags.heading5, tags.heading6],
    fontWeight: '700',
    color: 'var(--hl-heading)',
  },
  { tag: tags.strong, fontWeight: '700' },
  { tag: tags.emphasis, fontStyle: 'italic' },
  { tag: tags.strikethrough, textDecoration: 'line-through' },
  { tag: [tags.link, tags.url], color: 'var(--hl-link)' },
  { tag: tags.monospace, fontFamily: 'var(--font-mono)', color: 'var(--hl-code)' },
  { tag: [tags.processingInstruction, tags.meta, tags.contentSeparator], color: 'var(--hl-muted)' },
  { tag: tags.quote, color: 'var(--hl-muted)', fontStyle: 'italic' },
  { tag: [tags.keyword, tags.modifier, tags.operatorKeyword], color: 'var(--hl-keyword)' },
  { tag: [tags.string, tags.special(tags.string), tags.regexp], color: 'var(--hl-string)' },
  { tag: [tags.number, tags.bool, tags.atom], color: 'var(--hl-number)' },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: 'var(--hl-muted)', fontStyle: 'italic' },
  {
    tag: [tags.function(tags.variableName), tags.definition(tags.variableName)],
    color: 'var(--hl-function)',
  },
  { tag: [tags.typeName, tags.className, tags.tagName], color: 'var(--hl-type)' },
  { tag: [tags.propertyName, tags.attributeName], color: 'var(--hl-property)' },
  { tag: tags.invalid, color: 'var(--hl-invalid)' },
])

const editorTheme = EditorView.theme({
  '&': { height: '100%', color: 'var(--fg)', backgroundColor: 'var(--editor-bg)' },
  '.cm-scroller': { fontFamily: 'var(--font-mono)', lineHeight: '1.6', overflow: 'auto' },
  '.cm-content': { padding: '16px 0 40vh', caretColor: 'var(--accent)' },
  '.cm-line': { padding: '0 16px 0 12px' },
  '.cm-gutters': { backgroundColor: 'var(--editor-bg)', color: 'var(--muted)', border: 'none' },
  '.cm-activeLineGutter': { backgroundColor: 'transparent', color: 'var(--fg)' },
  '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '&.cm-focused': { outline: 'none' },
  '&.cm-focused .cm-cursor': { borderLeftColor: 'var(--accent)', borderLeftWidth: '2px' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground': {
    backgroundColor: 'var(--selection)',
  },
  '.cm-placeholder': { color: 'var(--muted)' },
  // Names on remote carets stay visible, not only on hover.
  '.cm-ySelectionInfo': {
    opacity: '1',
    fontFamily: 'var(--font-ui)',
    fontSize: '11px',
    fontWeight: '600',
    padding: '1px 4px',
    borderRadius: '3px 3px 3px 0',
    top: '-1.45em',
  },
  '.cm-ySelectionCaretDot': { display: 'none' },
  '.cm-panels': { backgroundColor: 'var(--panel-bg)', color: 'var(--fg)' },
})

/** Name of the shared text every Tandem client edits. */
export const TEXT_NAME = 'codemirror'

/**
 * Creates the editor in `parent`, editing `ytext` and showing the others in `awareness` (guarded
 * first: y-codemirror.next writes remote colours into style attributes); with `readOnly` it starts
 * read-only (switch later with `setReadOnly`).
 */
export function createEditor(
  parent: HTMLElement,
  ytext: Y.Text,
  awareness: Awareness,
  options: { readOnly?: boolean } = {},
): EditorView {
  guardPresence(awareness)
  const undoManager = new Y.UndoManager(ytext)
  const state = EditorState.create({
    doc: ytext.toString(),
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      highlightActiveLine(),
      drawSelection(),
      dropCursor(),
      EditorState.allowMultipleSelections.of(true),
      indentOnInput(),
      bracketMatching(),
      search({ top: true }),
      highlightSelectionMatches(),
      EditorView.lineWrapping,
      markdown({ base: markdownLanguage, codeLanguages: languages }),
      syntaxHighlighting(markdownHighlight),
      readOnlyMode(options.readOnly),
      editorTheme,
      EditorView.contentAttributes.of({ 'aria-label': 'Document text' }),
      keymap.of([...yUndoManagerKeymap, ...searchKeymap, indentWithTab, ...defaultKeymap]),
      yCollab(ytext, awareness, { undoManager }),
    ],
  })
  return new EditorView({ state, parent })
}
