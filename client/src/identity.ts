/**
 * Who this browser is in a room: a name the user can edit, a colour that stays the same for this
 * browser, and a random id that does too (the server credits this browser's writing to `user:<id>`,
 * so a rename keeps the authorship; PROTOCOL.md, "History and authorship"), all remembered in
 * localStorage.
 */
import { stripNameControls } from '../../shared/protocol/index.ts'
import { newRoomId } from './room-url.ts'

/** The name and colours published in awareness (`user` field, as y-codemirror.next reads it). */
export interface Identity {
  name: string
  color: string
  colorLight: string
  /** This browser's stable id (22 base64url characters); a peer's state may lack one. */
  id?: string
}

const NAME_KEY = 'tandem:name'
const COLOR_KEY = 'tandem:color'
const ID_KEY = 'tandem:user-id'
/** What the server takes as a presence `user.id`. */
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/
const MAX_NAME_LENGTH = 40

/** Caret colours readable on light and dark backgrounds. */
export const PALETTE = [
  '#e5484d',
  '#f76b15',
  '#d6a000',
  '#30a46c',
  '#12a594',
  '#0090ff',
  '#3e63dd',
  '#8e4ec6',
  '#d6409f',
  '#978365',
] as const

const ADJECTIVES = [
  'Amber',
  'Brisk',
  'Calm',
  'Clever',
  'Daring',
  'Gentle',
  'Lucky',
  'Quiet',
  'Swift',
  'Witty',
]
const ANIMALS = ['Otter', 'Heron', 'Fox', 'Lynx', 'Panda', 'Robin', 'Badger', 'Koala', 'Falcon', 'Marten']

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]

/**
 * The colour published for this user after `renames` renames. y-codemirror.next redraws a remote
 * caret's name label only when its colour string changes, so each rename steps the alpha channel
 * (ff, fe, ... f0: visually the same colour) to make peers redraw the label with the new name.
 */
export const caretColor = (color: string, renames: number): string =>
  renames === 0 ? color : `${color}${(0xff - (renames % 16)).toString(16)}`

/**
 * Trims and bounds a user-entered name and drops what the server refuses in one (control and
 * bidirectional formatting characters); an empty result means "keep the old one".
 */
export const cleanName = (raw: string): string =>
  stripNameControls(raw.replace(/\s+/g, ' ')).trim().slice(0, MAX_NAME_LENGTH)

/** Loads this browser's identity, creating and remembering one on first use. */
export function loadIdentity(storage: Storage | null = safeLocalStorage()): Identity {
  let name = cleanName(read(storage, NAME_KEY) ?? '')
  if (!name) {
    name = `${pick(ADJECTIVES)} ${pick(ANIMALS)}`
    write(storage, NAME_KEY, name)
  }
  let color = read(storage, COLOR_KEY) ?? ''
  if (!(PALETTE as readonly string[]).includes(color)) {
    color = pick(PALETTE)
    write(storage, COLOR_KEY, color)
  }
  let id = read(storage, ID_KEY) ?? ''
  if (!USER_ID.test(id)) {
    // Unguessable, as a new room's id is, so no one takes another's by accident.
    id = newRoomId()
    write(storage, ID_KEY, id)
  }
  return { name, color, colorLight: `${color}33`, id }
}

/** Remembers a new name; returns the cleaned name, or null when it was empty. */
export function saveName(raw: string, storage: Storage | null = safeLocalStorage()): string | null {
  const name = cleanName(raw)
  if (!name) return null
  write(storage, NAME_KEY, name)
  return name
}

/** localStorage, or null where it is unavailable (some private modes throw on access). */
export function safeLocalStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null
  }
}

function read(storage: Storage | null, key: string): string | null {
  try {
    return storage?.getItem(key) ?? null
  } catch {
    return null
  }
}

function write(storage: Storage | null, key: string, value: string): void {
  try {
    storage?.setItem(key, value)
  } catch {
    // Not remembered; the identity still holds for this page.
  }
}
