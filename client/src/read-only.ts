/**
 * Read-only mode for the editor, switchable without rebuilding it: one CodeMirror compartment that
 * makes the state read-only and the content not editable, and also holds back Yjs undo/redo, which
 * y-codemirror.next applies to the Y.Text directly (past CodeMirror's read-only check). Remote
 * changes still arrive and the caret still moves, so the others keep seeing this person.
 */
import { Compartment, EditorState, type Extension, Prec } from '@codemirror/state'
import { EditorView, keymap, placeholder } from '@codemirror/view'

const readOnlyCompartment = new Compartment()

const swallow = () => true

const EDITABLE_PLACEHOLDER = 'Start typing. Everyone with the link edits this document with you.'
const READ_ONLY_PLACEHOLDER = 'This document is empty. You can read it, but not edit it.'

function readOnlyExtension(readOnly: boolean): Extension {
  if (!readOnly) return placeholder(EDITABLE_PLACEHOLDER)
  return [
    placeholder(READ_ONLY_PLACEHOLDER),
    EditorState.readOnly.of(true),
    EditorView.editable.of(false),
    // The content stays focusable so the caret (and the others' view of it) can still move.
    EditorView.contentAttributes.of({ tabindex: '0' }),
    Prec.highest(
      keymap.of([
        { key: 'Mod-z', run: swallow, preventDefault: true },
        { key: 'Mod-y', run: swallow, preventDefault: true },
        { key: 'Mod-Shift-z', run: swallow, preventDefault: true },
      ]),
    ),
    Prec.highest(
      EditorView.domEventHandlers({
        beforeinput: (event) => event.inputType === 'historyUndo' || event.inputType === 'historyRedo',
      }),
    ),
  ]
}

/** The extension to put in the editor's state (with its placeholder); editable unless `readOnly`. */
export const readOnlyMode = (readOnly = false): Extension =>
  readOnlyCompartment.of(readOnlyExtension(readOnly))

/** Switches `view` between read-only and editable (a no-op when it already is). */
export function setReadOnly(view: EditorView, readOnly: boolean): void {
  if (view.state.readOnly === readOnly) return
  view.dispatch({ effects: readOnlyCompartment.reconfigure(readOnlyExtension(readOnly)) })
}
