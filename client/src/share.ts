/**
 * The Share button. Where the link this browser holds may be handed on (rooms without access control,
 * or a view or edit link), it copies that link and confirms it in a small popover that also shows the
 * link, so it can be copied by hand where the Clipboard API is unavailable or denied. For a room's
 * admin it offers "Copy edit link" and "Copy view link" instead, each minting a new link on the server:
 * the admin's own link is never what gets shared. Either way it offers the live page's link too
 * ("Live view (read-only, no WebSocket)", `/r/<room>/live`), made by `live()`: an admin's mints a
 * view link for it.
 */

/** A link to share and what it lets its holder do. */
export interface SharedLink {
  url: string
  scope: string
}

/**
 * What Share does right now: copy a link as it is, or let an admin mint one per access level; and
 * how to make the live page's link.
 */
export type ShareChoice =
  | { kind: 'copy'; url: string; scope: string; live: () => Promise<SharedLink> }
  | {
      kind: 'mint'
      mint: (access: 'edit' | 'view') => Promise<SharedLink>
      live: () => Promise<SharedLink>
    }

const LINK_NAMES = { edit: 'Edit link', view: 'View link', live: 'Live view link' } as const

/** Copies `text`; false where the Clipboard API is missing or refused. */
async function copyText(text: string): Promise<boolean> {
  try {
    if (!navigator.clipboard?.writeText) return false
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    return false
  }
}

/**
 * Wires `button` to share what `choice()` says at the time of the click, with the result in
 * `popover`; returns a function that unwires.
 */
export function mountShare(
  button: HTMLButtonElement,
  popover: HTMLElement,
  choice: () => ShareChoice,
): () => void {
  const message = popover.querySelector<HTMLElement>('[data-share-message]')!
  const field = popover.querySelector<HTMLInputElement>('[data-share-url]')!
  const close = popover.querySelector<HTMLButtonElement>('[data-share-close]')!
  const mintButtons = popover.querySelector<HTMLElement>('[data-share-links]')!
  const liveButton = popover.querySelector<HTMLButtonElement>('[data-share-live]')!
  const linkButtons = () => [...mintButtons.querySelectorAll('button'), liveButton]

  const hide = () => {
    popover.hidden = true
    button.setAttribute('aria-expanded', 'false')
  }
  const open = () => {
    popover.hidden = false
    button.setAttribute('aria-expanded', 'true')
  }
  const showLink = (url: string, text: string, copied: boolean) => {
    field.hidden = false
    field.value = url
    message.textContent = text
    popover.dataset.copied = String(copied)
    open()
    field.focus()
    field.select()
  }

  const onClick = async () => {
    const current = choice()
    if (current.kind === 'copy') {
      mintButtons.hidden = true
      const copied = await copyText(current.url)
      showLink(
        current.url,
        copied ? `Link copied. ${current.scope}` : `Copy this link to share the document. ${current.scope}`,
        copied,
      )
      return
    }
    mintButtons.hidden = false
    field.hidden = true
    field.value = ''
    delete popover.dataset.copied
    delete popover.dataset.linkAccess
    message.textContent = 'Share a new link to this document:'
    open()
    mintButtons.querySelector<HTMLButtonElement>('button')?.focus()
  }

  /** Makes the `kind` link with `make`, copies it and shows it. */
  const deliver = async (kind: keyof typeof LINK_NAMES, make: () => Promise<SharedLink>) => {
    const name = LINK_NAMES[kind]
    for (const b of linkButtons()) b.disabled = true
    message.textContent = `Making a ${name.toLowerCase()}…`
    try {
      const link = await make()
      const copied = await copyText(link.url)
      popover.dataset.linkAccess = kind
      showLink(
        link.url,
        copied
          ? `${name} copied. ${link.scope}`
          : `Copy this ${name.toLowerCase()} to share the document. ${link.scope}`,
        copied,
      )
    } catch (error) {
      popover.dataset.copied = 'false'
      message.textContent = `Could not make a link: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      for (const b of linkButtons()) b.disabled = false
    }
  }

  const onMint = (event: MouseEvent) => {
    const target = (event.target as HTMLElement).closest<HTMLButtonElement>('[data-share-mint]')
    const current = choice()
    if (!target || current.kind !== 'mint') return
    const access = target.dataset.shareMint === 'view' ? 'view' : 'edit'
    return deliver(access, () => current.mint(access))
  }
  const onLive = () => {
    const current = choice()
    return deliver('live', current.live)
  }

  const onKey = (event: KeyboardEvent) => {
    if (event.key === 'Escape' && !popover.hidden) {
      hide()
      button.focus()
    }
  }
  const onOutside = (event: MouseEvent) => {
    const target = event.target as Node
    if (!popover.hidden && !popover.contains(target) && !button.contains(target)) hide()
  }

  button.addEventListener('click', onClick)
  mintButtons.addEventListener('click', onMint)
  liveButton.addEventListener('click', onLive)
  close.addEventListener('click', hide)
  document.addEventListener('keydown', onKey)
  document.addEventListener('mousedown', onOutside)
  return () => {
    button.removeEventListener('click', onClick)
    mintButtons.removeEventListener('click', onMint)
    liveButton.removeEventListener('click', onLive)
    close.removeEventListener('click', hide)
    document.removeEventListener('keydown', onKey)
    document.removeEventListener('mousedown', onOutside)
  }
}
