/**
 * The colour each author's text is shown in: their presence colour when the server knows it, else
 * one picked from the presence palette by their key, so it stays the same across reloads; two
 * authors shown together never share one while the palette has colours left.
 */
import { PALETTE } from '../identity.ts'
import type { Author } from './authors-api.ts'

/** `#rrggbb` of a presence colour (which may carry an alpha step, `#rrggbbaa`); null when it is not one. */
export function presenceColor(color: string | null): string | null {
  const match = color === null ? null : /^#[0-9a-f]{6}(?:[0-9a-f]{2})?$/i.exec(color)
  return match ? match[0].slice(0, 7).toLowerCase() : null
}

/** A palette index from `key` (FNV-1a), the same in every browser. */
export function keyIndex(key: string, size: number = PALETTE.length): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % size
}

/**
 * Each author's colour, by key: `authors` in order (most characters first is best: they keep their
 * own colour when two would share one).
 */
export function authorColors(authors: readonly Author[]): Map<string, string> {
  const colors = new Map<string, string>()
  const used = new Set<string>()
  for (const author of authors) {
    let color = presenceColor(author.color)
    if (color === null || used.has(color)) {
      const start = keyIndex(author.key)
      const rotated = PALETTE.map((_, i) => PALETTE[(start + i) % PALETTE.length])
      color = rotated.find((c) => !used.has(c)) ?? color ?? rotated[0]
    }
    used.add(color)
    colors.set(author.key, color)
  }
  return colors
}
