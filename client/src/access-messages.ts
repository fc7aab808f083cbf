/**
 * What the editor tells a person about access, in words rather than codes: why a link was refused
 * (the preflight's `code`), why an open editor was cut off (the relay's 44xx close codes), and what
 * a shared link lets its holder do. Pure, so the texts are tested without a browser.
 */
import { CloseCode } from '../../shared/protocol/index.ts'
import type { AccessLevel } from './access-api.ts'

/** A page's or banner's heading and its explanation. */
export interface AccessText {
  title: string
  detail: string
}

const ASK_OWNER = 'Ask the person who shared it with you for a new link.'

/** Why the server refused a link, from the preflight's `code`; `reason` is its one-line fallback. */
export function refusalText(code: string, reason: string): AccessText {
  switch (code) {
    case 'token_missing':
      return {
        title: 'This link is missing its access key',
        detail:
          'Documents on this server are shared with links that end in “#token=…”, and this one has ' +
          'none; perhaps it was cut short when it was copied. Open the whole link, or ask the person ' +
          'who shared it to send it again.',
      }
    case 'token_invalid':
      return {
        title: 'This link is not valid',
        detail: `Its access key is damaged or was not made by this server. Check that you copied the whole link. ${ASK_OWNER}`,
      }
    case 'token_expired':
      return {
        title: 'This link has expired',
        detail: `Links to this document work for a limited time, and this one has run out. ${ASK_OWNER}`,
      }
    case 'token_revoked':
      return {
        title: 'This link was revoked',
        detail: `The document's owner switched this link off. ${ASK_OWNER}`,
      }
    case 'wrong_room':
      return {
        title: 'This link is for a different document',
        detail:
          'Its access key opens another document than the one in the address. Open the link exactly ' +
          'as it was shared, or ask for a link to this document.',
      }
    default:
      return {
        title: 'This document cannot be opened',
        detail: reason ? `The server said: ${reason}` : ASK_OWNER,
      }
  }
}

/**
 * Why an open editor was disconnected for good, for the close codes that are about access; null for
 * every other code (the status line shows those).
 */
export function accessCloseText(code: number): AccessText | null {
  switch (code) {
    case CloseCode.tokenExpired:
      return {
        title: 'This link has expired.',
        detail: `The editor is disconnected and read-only; what you see may be out of date. ${ASK_OWNER}`,
      }
    case CloseCode.revoked:
      return {
        title: 'This link was revoked.',
        detail: `The document's owner switched it off, so the editor is disconnected and read-only. ${ASK_OWNER}`,
      }
    case CloseCode.forbidden:
      return {
        title: 'This link cannot edit.',
        detail:
          'Changes made here were not accepted, and the editor is disconnected. Reload to see the ' +
          'document as it is, or ask for an edit link.',
      }
    default:
      return null
  }
}

/** Whether a close with `code` is about access (and so retrying it cannot help). */
export const isAccessClose = (code: number | null): boolean => code !== null && accessCloseText(code) !== null

/** What a shared link lets its holder do, with its expiry, for the Share popover. */
export function linkScope(access: AccessLevel, expiresAt: number | null, now = Date.now()): string {
  const can = access === 'view' ? 'Anyone with it can read, but not edit' : 'Anyone with it can edit'
  return expiresAt === null ? `${can}.` : `${can}, until ${formatExpiry(expiresAt, now)}.`
}

/** An expiry (milliseconds since the epoch) as a short local date and time (the year only when it differs). */
export function formatExpiry(expiresAt: number, now = Date.now()): string {
  const date = new Date(expiresAt)
  const sameYear = date.getFullYear() === new Date(now).getFullYear()
  return date.toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    year: sameYear ? undefined : 'numeric',
    hour: 'numeric',
    minute: '2-digit',
  })
}
