/**
 * authorSpans (server/authorship/author-spans.ts) on hand-made documents: runs of one author merge
 * across their items and client ids, text of an unbound client id is a null span reported as
 * unbound, deleted items and formatting marks take no room, an embed counts one unit, and the spans
 * add up to the text's length.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { authorSpans } from '../server/authorship/author-spans.ts'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'

/** Writes `insert` at `index` of `doc`'s text under client id `client`. */
function write(doc: Y.Doc, client: number, index: number, insert: string | object): void {
  doc.clientID = client
  const text = doc.getText(ROOM_TEXT)
  if (typeof insert === 'string') text.insert(index, insert)
  else text.insertEmbed(index, insert)
}

describe('authorSpans', () => {
  it('merges runs of one author, leaves unbound text null, skips deletions and marks', () => {
    const doc = new Y.Doc()
    write(doc, 1, 0, 'hello')
    write(doc, 2, 5, ' there')
    write(doc, 3, 11, '!')
    write(doc, 4, 0, '> ')
    write(doc, 1, 0, '# ')
    const text = doc.getText(ROOM_TEXT)
    doc.clientID = 2
    text.format(2, 4, { bold: true })
    text.delete(9, 3)
    write(doc, 5, text.length, { image: 'x.png' })
    expect(text.toString()).toBe('# > helloere!')
    const keys = new Map([
      [1, 'user:ada'],
      [2, 'user:bob'],
      [3, 'user:bob'],
      [4, 'user:ada'],
    ])
    const { spans, chars, unbound, length } = authorSpans(text, (client) => keys.get(client))
    expect(spans).toEqual([
      { length: 9, author: 'user:ada' },
      { length: 4, author: 'user:bob' },
      { length: 1, author: null },
    ])
    expect(length).toBe(14)
    expect(chars).toEqual(
      new Map([
        ['user:ada', 9],
        ['user:bob', 4],
      ]),
    )
    expect([...unbound]).toEqual([5])
  })

  it('answers an empty text with no spans', () => {
    const result = authorSpans(new Y.Doc().getText(ROOM_TEXT), () => undefined)
    expect(result).toEqual({ length: 0, spans: [], chars: new Map(), unbound: new Set(), items: 0 })
  })
})
