/**
 * A mutable rope: the document store behind `apply`, so an edit costs O(log n) instead of copying the text.
 *
 * Structure: a B-tree of string leaves. Leaves hold at most MAX_LEAF UTF-16 units, branches at most
 * MAX_CHILDREN children, and every branch caches its total length, so finding an offset walks one path from
 * the root. Inserts split overfull leaves and branches upward; deletes drop emptied nodes and merge small
 * neighbouring leaves, and the root collapses while it has a single branch child. Offsets are UTF-16 units.
 */
import { OpDoesNotFitError } from './errors.ts'

const MAX_LEAF = 512
const MIN_LEAF = 128
const MAX_CHILDREN = 32

interface Node {
  length: number
  /** Leaf text; '' for branches. */
  text: string
  /** Children of a branch; null for leaves. */
  children: Node[] | null
}

const leaf = (text: string): Node => ({ length: text.length, text, children: null })
const branch = (children: Node[]): Node => ({
  length: children.reduce((n, c) => n + c.length, 0),
  text: '',
  children,
})

/** Splits an overfull child list into lists of at most `max` (roughly equal) nodes. */
function chunk<T>(items: T[], max: number): T[][] {
  const parts = Math.ceil(items.length / max)
  const size = Math.ceil(items.length / parts)
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Cuts a long text into leaves of at most MAX_LEAF units. */
function leavesOf(text: string): Node[] {
  const out: Node[] = []
  const parts = Math.ceil(text.length / MAX_LEAF)
  const size = Math.ceil(text.length / parts)
  for (let i = 0; i < text.length; i += size) out.push(leaf(text.slice(i, i + size)))
  return out
}

/** Builds a balanced tree over `nodes` (all at the same depth). */
function build(nodes: Node[]): Node {
  let level = nodes
  do level = chunk(level, MAX_CHILDREN).map(branch)
  while (level.length > 1)
  return level[0]
}

/** A mutable text with O(log n) insert, delete and slice by UTF-16 offset. */
export class Rope {
  private root: Node

  /** A rope holding `text`. */
  constructor(text = '') {
    this.root = text.length > 0 ? build(leavesOf(text)) : branch([leaf('')])
  }

  /** Length in UTF-16 code units. */
  get length(): number {
    return this.root.length
  }

  /** Inserts `text` at offset `pos` (0..length); throws OpDoesNotFitError past the end. */
  insert(pos: number, text: string): void {
    if (pos < 0 || pos > this.root.length)
      throw new OpDoesNotFitError(`insert at ${pos} past the end (${this.length})`)
    if (text.length === 0) return
    const path: Node[] = []
    const indexes: number[] = []
    let node = this.root
    while (node.children !== null) {
      node.length += text.length
      const children = node.children
      let i = 0
      while (i < children.length - 1 && pos > children[i].length) pos -= children[i++].length
      path.push(node)
      indexes.push(i)
      node = children[i]
    }
    const joined = node.text.slice(0, pos) + text + node.text.slice(pos)
    if (joined.length <= MAX_LEAF) {
      node.text = joined
      node.length = joined.length
      return
    }
    let replacement = leavesOf(joined)
    for (let level = path.length - 1; level >= 0; level--) {
      const parent = path[level]
      const children = parent.children!
      children.splice(indexes[level], 1, ...replacement)
      if (children.length <= MAX_CHILDREN) return
      replacement = chunk(children, MAX_CHILDREN).map(branch)
    }
    this.root = build(replacement)
  }

  /** Deletes `count` units starting at `pos`; throws OpDoesNotFitError past the end. */
  delete(pos: number, count: number): void {
    if (pos < 0 || count < 0 || pos + count > this.root.length) {
      throw new OpDoesNotFitError(`delete of ${count} at ${pos} past the end (${this.length})`)
    }
    if (count === 0) return
    deleteRange(this.root, pos, count)
    while (this.root.children!.length === 1 && this.root.children![0].children !== null) {
      this.root = this.root.children![0]
    }
    if (this.root.children!.length === 0) this.root.children!.push(leaf(''))
  }

  /** The text between `start` and `end` (clamped to the document), like String.prototype.slice. */
  slice(start: number, end = this.length): string {
    const parts: string[] = []
    collect(this.root, Math.max(0, start), Math.min(end, this.length), parts)
    return parts.join('')
  }

  /** The whole text. */
  toString(): string {
    return this.slice(0)
  }
}

function deleteRange(node: Node, pos: number, count: number): void {
  node.length -= count
  if (node.children === null) {
    node.text = node.text.slice(0, pos) + node.text.slice(pos + count)
    return
  }
  const children = node.children
  let i = 0
  while (pos >= children[i].length) pos -= children[i++].length
  const first = i
  while (count > 0) {
    const child = children[i]
    const n = Math.min(count, child.length - pos)
    if (pos === 0 && n === child.length) children.splice(i, 1)
    else {
      deleteRange(child, pos, n)
      if (child.children !== null && child.children.length === 0) children.splice(i, 1)
      else i++
    }
    count -= n
    pos = 0
  }
  mergeSmallLeaves(children, Math.max(0, first - 1), Math.min(children.length - 1, i))
}

/** Merges undersized leaves in children[from..to] with a neighbour, keeping leaves under MAX_LEAF. */
function mergeSmallLeaves(children: Node[], from: number, to: number): void {
  for (let i = to; i > from; i--) {
    const a = children[i - 1]
    const b = children[i]
    if (a.children !== null || b.children !== null) continue
    if ((a.length < MIN_LEAF || b.length < MIN_LEAF) && a.length + b.length <= MAX_LEAF) {
      a.text += b.text
      a.length = a.text.length
      children.splice(i, 1)
    }
  }
}

function collect(node: Node, start: number, end: number, out: string[]): void {
  if (start >= end) return
  if (node.children === null) {
    out.push(start === 0 && end === node.length ? node.text : node.text.slice(start, end))
    return
  }
  for (const child of node.children) {
    if (end <= 0) return
    if (start < child.length) collect(child, start, Math.min(end, child.length), out)
    start = Math.max(0, start - child.length)
    end -= child.length
  }
}
