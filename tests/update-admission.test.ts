/**
 * admitUpdate's price of Yjs' conflict walk (server/admission/update-admission.ts): an insert is
 * charged the items between its origins as Yjs steps over them, no more for typing inside what
 * someone wrote, and every item for origins set far apart.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DeletedIndex } from '../server/admission/deleted-index.ts'
import { admitUpdate, PRICES } from '../server/admission/update-admission.ts'
import { readUpdateShape } from '../server/admission/update-shape.ts'
import { defaultConfig } from '../server/config/config.ts'
import { handItemsUpdate } from './helpers/hostile.ts'

const ITEMS = 20_000
/** The clock of the 26-unit item's first unit. */
const WORD = ITEMS

/**
 * A room whose text ('text') is one 26-unit item (clocks WORD..WORD+25) followed by ITEMS one-unit
 * items (typed backwards: clocks ITEMS-1 down to 0, the last one last).
 */
function room(): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = 1
  const text = doc.getText('text')
  doc.transact(() => {
    for (let i = 0; i < ITEMS; i++) text.insert(0, 'x')
    text.insert(0, 'abcdefghijklmnopqrstuvwxyz')
  })
  return doc
}

/** The work admitUpdate prices `update` at, and that work without the conflict walk. */
function priced(doc: Y.Doc, update: Uint8Array): { walk: number } {
  const shape = readUpdateShape(update, { maxJsonDepth: 64 })
  const { work } = admitUpdate(doc, update, shape, defaultConfig, new DeletedIndex(doc))
  const reads = update.byteLength * PRICES.byte + shape.structCount * (PRICES.structRead + PRICES.structNew)
  // One split of the word, shifting the structs after it in client 1's array.
  const split = PRICES.split + (ITEMS + 1) * PRICES.shift
  return { walk: (work - reads - split) / PRICES.conflictStep }
}

/** What another client's `edit` of a copy of `doc` sends. */
function edited(doc: Y.Doc, edit: (text: Y.Text) => void): Uint8Array {
  const sender = new Y.Doc()
  sender.clientID = 2
  Y.applyUpdate(sender, Y.encodeStateAsUpdate(doc))
  const before = Y.encodeStateVector(sender)
  edit(sender.getText('text'))
  return Y.encodeStateAsUpdate(sender, before)
}

describe('the conflict walk', () => {
  it('typing inside an item someone wrote is charged at most a step, not the rest of the text', () => {
    const doc = room()
    expect(
      priced(
        doc,
        edited(doc, (text) => text.insert(5, 'hello')),
      ).walk,
    ).toBeLessThanOrEqual(1)
    // A keystroke at a time, as an editor sends them.
    for (let i = 0; i < 5; i++) {
      const update = edited(doc, (text) => text.insert(13 + i, 'h'))
      expect(priced(doc, update).walk).toBeLessThanOrEqual(1)
      Y.applyUpdate(doc, update)
    }
  })

  it('an insert whose origins are far apart is charged every item between them', () => {
    const doc = room()
    const far = handItemsUpdate(2, 0, [{ origin: [1, WORD + 3], right: [1, 0] }])
    expect(priced(doc, far).walk).toBeGreaterThan(ITEMS * 0.99)
  })

  it('origins in one item with the right one first walk to the end of the list, and are charged so', () => {
    const doc = room()
    const backwards = handItemsUpdate(2, 0, [{ origin: [1, WORD + 20], right: [1, WORD + 3] }])
    expect(priced(doc, backwards).walk).toBeGreaterThan(ITEMS * 0.99)
  })
})
